//! The workload: user classes and when they start loops, the agent loop
//! and its calls, the LLMs they call, and recorded traffic replayed
//! (request traces, session traces, recorded agent sessions).

pub mod agent_loop;
pub mod classes;
pub mod claude_code;
pub mod datetime;
mod fan_out;
pub mod llm;
pub mod otel;
pub mod session_stream;
pub mod sessions;
pub mod trace;
pub mod weka;
