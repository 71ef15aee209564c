//! What a run of a model will take, worked out before it runs: the memory
//! at its peak and the events it makes.

pub mod footprint;
pub mod typical;
pub mod work;
