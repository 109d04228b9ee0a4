//! The wasmtime engine every plugin of the process shares.

use wasmtime::Engine;

use super::PluginError;
use super::epoch;

/// The engine every plugin shares, with its epoch ticking (for call
/// deadlines) on a thread that ends with the engine. With `pool_instances`
/// slots, instances come from the pooling allocator, each slot sized for
/// the largest `memory_mb`.
pub fn engine(pool_instances: u32, max_memory_mb: u32) -> Result<Engine, PluginError> {
    let mut config = wasmtime::Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    if pool_instances > 0 {
        let memory = (max_memory_mb as usize) << 20;
        let mut pool = wasmtime::PoolingAllocationConfig::default();
        // A component built by a language toolchain holds a few core
        // instances, memories and tables (adapters, runtimes).
        pool.total_component_instances(pool_instances)
            .total_core_instances(pool_instances.saturating_mul(8))
            .total_memories(pool_instances.saturating_mul(2))
            .total_tables(pool_instances.saturating_mul(8))
            .total_stacks(pool_instances)
            .max_core_instances_per_component(32)
            .max_memories_per_component(4)
            .max_tables_per_component(32)
            .max_component_instance_size(1 << 20)
            .max_memory_size(memory);
        config.memory_reservation(memory as u64);
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    }
    let engine = Engine::new(&config).map_err(|e| PluginError::Instantiate(e.to_string()))?;
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("gatehouse-epoch".into())
        .spawn(move || epoch::TICKER.run(weak))
        .map_err(|e| PluginError::Instantiate(format!("epoch thread: {e}")))?;
    Ok(engine)
}
