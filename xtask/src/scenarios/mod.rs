//! End-to-end scenarios, grouped into suites that share one guest boot.
//!
//! To add a scenario: write `fn my_test(g: &mut Guest) -> Result<()>` in a
//! module here and add `.test("model::my_test", my_test)` to a suite below
//! (or a new `Suite::new(GuestConfig::with_nics(&[...]))`).

pub(crate) mod capture;
pub(crate) mod cli;
pub(crate) mod common;
pub(crate) mod driver;
pub(crate) mod examples;
pub(crate) mod faults;
pub(crate) mod features;
pub(crate) mod harness;
pub(crate) mod offloads;
pub(crate) mod programs;
pub(crate) mod ptp;
pub(crate) mod real_stacks;
pub(crate) mod sriov;
pub mod suite;

use crate::vm::guest::GuestConfig;
use suite::Suite;

/// Every suite, in the order they run.
pub fn suites() -> Vec<Suite> {
    vec![
        // The guest kernel's own drivers as the device under test: validates
        // the bench (agent, links, QMP) independently of the project's driver.
        Suite::new(GuestConfig::with_nics(&["e1000e", "e1000", "igb"]).unbound())
            .test(
                "bench::agent_output_and_status",
                harness::agent_output_and_status,
            )
            .test(
                "bench::agent_concurrent_jobs",
                harness::agent_concurrent_jobs,
            )
            .test(
                "bench::agent_sigint_background_job",
                harness::agent_sigint_background_job,
            )
            .test("bench::guest_environment", harness::guest_environment)
            .test("bench::cli_help_runs", harness::cli_help_runs)
            .test("bench::kernel_e1000e_ping", |g| harness::kernel_ping(g, 0))
            .test("bench::kernel_e1000_ping", |g| harness::kernel_ping(g, 1))
            .test("bench::kernel_igb_ping", |g| harness::kernel_ping(g, 2))
            .test("bench::qmp_set_link", harness::qmp_set_link),
        // NICs bound to vfio-pci at boot, as the project's driver wants them.
        Suite::new(GuestConfig::with_nics(&["e1000e", "igb", "e1000-82545em"]))
            .test("bench::vfio_bound", harness::vfio_bound),
        // The bench's guest: DPDK's testpmd appended to the initramfs, 2 vCPUs.
        Suite::new({
            let mut c = GuestConfig::with_nics(&["e1000e"]);
            c.cpus = crate::vm::GUEST_CPUS;
            c.dpdk = true;
            c
        })
        .test("bench::dpdk_testpmd_echoes", harness::dpdk_testpmd_echoes),
        // Interrupt affinity needs more than one CPU: 2 vCPUs, one NIC per family.
        Suite::new({
            let mut c = GuestConfig::with_nics(&["e1000e", "igb", "e1000"]);
            c.cpus = crate::vm::GUEST_CPUS;
            c
        })
        .test("e1000e::echo_thread_runs_where_its_interrupt_lands", |g| {
            harness::echo_thread_runs_where_its_interrupt_lands(g, 0)
        })
        .test("igb::echo_thread_runs_where_its_interrupt_lands", |g| {
            harness::echo_thread_runs_where_its_interrupt_lands(g, 1)
        })
        .test("e1000::echo_thread_runs_where_its_interrupt_lands", |g| {
            harness::echo_thread_runs_where_its_interrupt_lands(g, 2)
        }),
        // The project's driver, the same scenarios on every model.
        model_suite("e1000e"),
        model_suite("e1000"),
        model_suite("e1000-82544gc"),
        model_suite("e1000-82545em"),
        model_suite("igb"),
        faults::no_iommu_suite(),
        driver::forward_suite().test(
            "e1000e+igb::forward_example_carries_frames_both_ways",
            examples::forward_example,
        ),
        real_stacks::forward_suite("e1000"),
        real_stacks::forward_suite("e1000e"),
        real_stacks::forward_suite("igb"),
        real_stacks::tap_iperf3_suite("e1000e"),
        real_stacks::tap_iperf3_suite("igb"),
        real_stacks::tap_iperf3_suite("e1000"),
        sriov::suite(),
        ptp::suite(),
        faults::group_not_viable_suite(),
        faults::hot_unplug_suite("msix"),
        faults::hot_unplug_suite("poll"),
        faults::hot_unplug_forward_suite("poll"),
        faults::hot_unplug_forward_suite("msix"),
    ]
}

/// One suite (one boot) per model, with every scenario of every theme that
/// applies to it.
fn model_suite(model: &'static str) -> Suite {
    let s = Suite::new(GuestConfig::with_nics(&[model]));
    let s = faults::add(driver::add(s, model), model);
    let s = cli::add(programs::add(examples::add(s, model), model), model);
    offloads::add(features::add(capture::add(s, model), model), model)
}
