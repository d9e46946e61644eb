//! `eessi-switch bench` (placeholder until the benchmark is written).
pub async fn run(_amqp: Option<String>, _seds: usize) -> Result<(), String> {
    Err("the benchmark is not written yet".into())
}
