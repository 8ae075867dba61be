
pub mod relay_sim;
