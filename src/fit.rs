//! `loopcap fit`: a model fitted to a trace. A request trace gives an open
//! class (its arrival process, or its own gaps replayed where no process
//! has its burstiness) of one-call loops with the trace's input and output
//! tokens and cached share. An agent-session trace (TraceLab's, OpenTelemetry
//! spans, or one with a session column) gives an open stream of sessions
//! fitted to the gaps between their starts, each a recorded session
//! resampled whole; with fewer than three starts apart in time, closed
//! users instead, each resampling sessions one after another, thinking
//! between them as between a session's requests. Each quantity fitted (a
//! request trace's tokens, closed users' think time) is a parametric
//! distribution chosen by its KS distance, or the trace's own values
//! written in a CSV beside the model.

use std::path::Path;

use crate::config::field_path::FieldPath;
use crate::config::trace::RawTrace;
use crate::model::workload::classes::Population;
use crate::model::workload::sessions::{SessionTrace, read_csv_sessions};
use crate::model::workload::trace::{TraceReader, TraceSpec};

pub mod arrivals;
pub mod check;
pub mod compared;
pub mod dists;
pub mod report;

use crate::error::BadInput;
use arrivals::ArrivalFit;
use dists::{Kind, QuantityFit, number};

/// A model fitted to sessions runs at most this long (8 hours).
const SESSION_DURATION_S: f64 = 8.0 * 3600.0;

/// A trace's observed quantities.
pub struct Observations {
    pub calls: usize,
    /// Loops: requests of sessions, or calls of a request trace.
    pub loops: usize,
    /// Recorded sessions, in a trace of sessions.
    pub sessions: Option<usize>,
    /// From the first call to the last, in seconds.
    pub span_s: f64,
    /// Gaps between a request trace's calls, or between the starts of
    /// sessions that arrive as an open stream (empty for closed users).
    pub gaps: Vec<f64>,
    /// Gaps between the starts of loops (requests), in order, as the
    /// model's runs measure them.
    pub loop_gaps: Vec<f64>,
    /// What arrives: an open stream of requests or sessions, or closed users.
    pub arriving: Arriving,
    pub quantities: Vec<Observed>,
    /// Input tokens of every call, cached or not.
    pub input_tokens: u64,
    /// Tokens per unit of the trace's token columns (1 when they count tokens).
    pub token_scale: f64,
    /// The cached share of the (first) calls' input.
    pub cached_input_share: f64,
    /// The cached share of the context a loop's steps add.
    pub context_cached_share: Option<f64>,
    /// Whether the trace dates what arrives: a format whose sessions keep
    /// no start time does not, and its arrivals say nothing of traffic.
    pub dated: bool,
}

/// What a fitted model's class is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arriving {
    /// An open stream of a request trace's requests.
    Requests,
    /// An open stream of sessions, each one request (none records a think time).
    Sessions,
    /// Closed users: the mean number of sessions in progress, at least 1.
    Users(u32),
}

impl Arriving {
    /// Closed users' number; none for an open stream.
    pub fn users(self) -> Option<u32> {
        match self {
            Arriving::Users(n) => Some(n),
            Arriving::Requests | Arriving::Sessions => None,
        }
    }

    /// The fitted class's name.
    fn name(self) -> &'static str {
        match self {
            Arriving::Requests => "requests",
            Arriving::Sessions => "sessions",
            Arriving::Users(_) => "users",
        }
    }

    /// What arrives, in words, for the report.
    pub fn words(self) -> String {
        match self {
            Arriving::Requests => "requests: an open stream fitted to the gaps between them".to_owned(),
            Arriving::Sessions => "sessions: an open stream fitted to the gaps between their starts, each a recorded session drawn at random and replayed whole (resample): its requests, rounds, tokens, tool and think times as recorded".to_owned(),
            Arriving::Users(n) => format!("closed users: {n}, the sessions in progress on average, each replaying recorded sessions drawn at random one after another (resample), thinking between them as between a session's requests (too few session starts, under 3 apart in time, to fit a stream of sessions to)"),
        }
    }
}

/// One quantity's values as recorded.
pub struct Observed {
    /// The model field it fits, e.g. `input_tokens` or `think_time`.
    pub name: &'static str,
    pub kind: Kind,
    pub values: Vec<f64>,
    /// The session of each value (for a session trace; else empty).
    pub sessions: Vec<u32>,
}

/// The trace as the fitted model names it, to resample its sessions.
pub struct TraceSource<'a> {
    /// The trace's path from the model's directory.
    pub file: &'a str,
    /// The same from the directory the model is read back in before it is put in place.
    pub staged_file: &'a str,
    pub format: &'a str,
    /// The inside of `columns = { ... }`, for a csv.
    pub columns: Option<&'a str>,
    /// The tick its times are rounded to, as given.
    pub tick: Option<&'a str>,
}

/// A fitted model: its text, and the empirical CSVs it reads (file name and values).
pub struct Fitted {
    pub model: String,
    /// The model's text as read back from the staging directory.
    pub staged_model: String,
    pub files: Vec<(String, Vec<f64>)>,
    pub arrivals: Option<ArrivalFit>,
    /// Each quantity's fit; none where the model resamples the recorded sessions.
    pub fits: Vec<(&'static str, Option<QuantityFit>)>,
}

/// The trace's population as `check` reads it: `columns` is the inside of
/// a `columns = { ... }` table, for `format = "csv"`.
pub fn read_trace(
    file: &str,
    format: &str,
    (columns, tick): (Option<&str>, Option<&str>),
) -> Result<Population, BadInput> {
    let text = format!(
        "file = {}\nformat = {}\n{}{}",
        toml_string(file),
        toml_string(format),
        tick.map_or(String::new(), |t| format!("tick = {}\n", toml_string(t))),
        columns.map_or(String::new(), |c| format!("columns = {{ {c} }}"))
    );
    let raw: RawTrace = toml::from_str(&text).map_err(|e| {
        let flag = match e.span() {
            Some(span) if text[..span.start].contains("columns") => "--columns",
            _ => "--tick",
        };
        BadInput(format!("{flag}: {}", e.message()))
    })?;
    raw.check(&FieldPath::root("trace"), Path::new("."), &[])
        .map_err(|e| BadInput(format!("{}: {}", e.path, e.message)))
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// Everything the trace records, read in one pass.
pub fn observe(population: &Population) -> Result<Observations, BadInput> {
    match population {
        Population::Trace(spec) if spec.sessions.is_some() => Ok(Observations {
            token_scale: spec.columns.token_scale,
            ..observe_sessions(&read_csv_sessions(spec).map_err(|e| BadInput(e.message))?)
        }),
        Population::Trace(spec) => observe_requests(spec),
        Population::Sessions(sessions) => Ok(observe_sessions(sessions)),
        _ => unreachable!("a trace reads as a trace or sessions"),
    }
}

fn observe_requests(spec: &TraceSpec) -> Result<Observations, BadInput> {
    let mut reader = TraceReader::open(spec).map_err(|e| BadInput(e.message))?;
    let (mut times, mut input, mut output) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cached, mut all_input) = (0u64, 0u64);
    while let Some(r) = reader.next_record().map_err(|e| BadInput(e.message))? {
        times.push(r.at.as_secs_f64());
        input.push(f64::from(r.input));
        output.push(f64::from(r.output));
        cached += u64::from(r.cached_input);
        all_input += u64::from(r.input);
    }
    if times.len() < 3 {
        return Err(BadInput(format!(
            "{}: {} rows: a fit needs at least 3",
            spec.shown,
            times.len()
        )));
    }
    let span_s = times[times.len() - 1] - times[0];
    if span_s <= 0.0 {
        return Err(BadInput(format!(
            "{}: all {} rows share one time ({} s): a rate cannot be fitted to a trace that spans no time; give one whose requests are spread over time",
            spec.shown,
            times.len(),
            times[0]
        )));
    }
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    Ok(Observations {
        calls: times.len(),
        loops: times.len(),
        sessions: None,
        dated: true,
        span_s,
        loop_gaps: gaps.clone(),
        gaps,
        arriving: Arriving::Requests,
        quantities: vec![
            Observed {
                name: "input_tokens",
                kind: Kind::Count,
                values: input,
                sessions: Vec::new(),
            },
            Observed {
                name: "output_tokens",
                kind: Kind::Count,
                values: output,
                sessions: Vec::new(),
            },
        ],
        input_tokens: all_input,
        token_scale: spec.columns.token_scale,
        cached_input_share: share(cached, all_input),
        context_cached_share: None,
    })
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn observe_sessions(trace: &SessionTrace) -> Observations {
    // Each quantity's values, and the session each came from.
    let mut q: [(Vec<f64>, Vec<u32>); 6] = Default::default();
    let [steps, first_input, output, growth, tools, think] = &mut q;
    let (mut first_cached, mut first_all) = (0u64, 0u64);
    let (mut grown_cached, mut grown) = (0i64, 0i64);
    let (mut busy_s, mut end_s, mut calls) = (0.0, 0.0f64, 0usize);
    let (mut loop_starts, mut input_tokens) = (Vec::new(), 0u64);
    for (s, session) in trace.sessions.iter().enumerate() {
        let push = |(values, sessions): &mut (Vec<f64>, Vec<u32>), value: f64| {
            values.push(value);
            sessions.push(s as u32);
        };
        // How long the user was at it: thinking, or waiting for a request.
        let mut session_s = 0.0;
        for (r, request) in session.requests.iter().enumerate() {
            if r > 0 {
                push(think, request.think_before.as_secs_f64());
            }
            session_s += request.think_before.as_secs_f64();
            loop_starts.push(session.start.as_secs_f64() + session_s);
            session_s += request.recorded.as_secs_f64();
            // The loop's calls are its own and its subagents', each of
            // them a run of rounds whose context grows from its first.
            let runs = session.with_subagents(request);
            let loop_calls: usize = runs.iter().map(|r| r.rounds.len()).sum();
            calls += loop_calls;
            push(steps, loop_calls as f64);
            let first = request.rounds[0].tokens;
            push(first_input, f64::from(first.input));
            first_cached += u64::from(first.cached_input);
            first_all += u64::from(first.input);
            for rounds in runs.iter().map(|r| &r.rounds) {
                let first = rounds[0].tokens;
                for (k, round) in rounds.iter().enumerate() {
                    input_tokens += u64::from(round.tokens.input);
                    push(output, f64::from(round.tokens.output));
                    if k + 1 < rounds.len() {
                        push(tools, round.tool_after.as_secs_f64());
                    }
                    if k > 0 {
                        let previous = rounds[k - 1].tokens;
                        let added = i64::from(round.tokens.input) - i64::from(previous.input);
                        push(growth, added as f64);
                        grown += i64::from(round.tokens.input) - i64::from(first.input);
                        grown_cached +=
                            i64::from(round.tokens.cached_input) - i64::from(first.cached_input);
                    }
                }
            }
        }
        busy_s += session_s;
        end_s = end_s.max(session.start.as_secs_f64() + session_s);
    }
    let start_s = trace.sessions[0].start.as_secs_f64();
    let span_s = end_s - start_s;
    let (gaps, arriving) = session_arrivals(trace, busy_s / span_s.max(1e-9));
    loop_starts.sort_by(f64::total_cmp);
    let [steps, first_input, output, growth, tools, think] = q;
    let observed = |name, kind, (values, sessions)| Observed {
        name,
        kind,
        values,
        sessions,
    };
    let mut quantities = vec![
        observed("steps", Kind::Count, steps),
        observed("input_tokens", Kind::Count, first_input),
        observed("output_tokens", Kind::Count, output),
    ];
    let optional = [
        ("context_growth", Kind::Count, growth),
        ("tool_latency", Kind::Seconds, tools),
        ("think_time", Kind::Seconds, think),
    ];
    for (name, kind, values) in optional {
        if !values.0.is_empty() {
            quantities.push(observed(name, kind, values));
        }
    }
    Observations {
        calls,
        loops: trace.sessions.iter().map(|s| s.requests.len()).sum(),
        sessions: Some(trace.sessions.len()),
        dated: trace.dated,
        span_s,
        gaps,
        loop_gaps: loop_starts.windows(2).map(|w| w[1] - w[0]).collect(),
        arriving,
        quantities,
        input_tokens,
        token_scale: 1.0,
        cached_input_share: share(first_cached, first_all),
        context_cached_share: (grown > 0)
            .then(|| (grown_cached as f64 / grown as f64).clamp(0.0, 1.0)),
    }
}

/// How recorded sessions arrive, and the gaps between their starts:
/// sessions whose starts spread over time arrive as an open stream at those
/// gaps, each a recorded one resampled whole; too few of them, and they are
/// `busy_users` closed users (the users busy at once on average) instead.
fn session_arrivals(trace: &SessionTrace, busy_users: f64) -> (Vec<f64>, Arriving) {
    let mut starts: Vec<f64> = trace
        .sessions
        .iter()
        .map(|s| s.start.as_secs_f64())
        .collect();
    starts.sort_by(f64::total_cmp);
    let open = starts.len() >= 3 && starts[starts.len() - 1] > starts[0];
    let gaps: Vec<f64> = match open {
        true => starts.windows(2).map(|w| w[1] - w[0]).collect(),
        false => Vec::new(),
    };
    let arriving = match open {
        true => Arriving::Sessions,
        false => Arriving::Users((busy_users.round() as u32).max(1)),
    };
    (gaps, arriving)
}

/// The fitted field `name`'s TOML.
fn field(fields: &[(&str, String)], name: &str) -> Option<String> {
    fields
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| text.clone())
}

/// The fitted model's head: `comment`, its name from `stem`, its
/// duration, and the workload's arrivals (as fitted, their gaps in
/// `gaps_file`) or users.
fn head(
    obs: &Observations,
    (stem, comment): (&str, &str),
    (arrivals, gaps_file): (Option<&ArrivalFit>, &str),
    fields: &[(&str, String)],
) -> String {
    let mut head = String::new();
    for line in comment.lines() {
        head.push_str(&format!("# {line}\n"));
    }
    // Sessions' users run for a working day, however long the recording.
    let duration = match obs.arriving {
        Arriving::Users(_) => obs.span_s.min(SESSION_DURATION_S),
        Arriving::Requests | Arriving::Sessions => obs.span_s,
    };
    head.push_str(&format!(
        "name = \"fitted: {stem}\"\nseed = 1\nduration = \"{}s\"\n\n[[workload]]\n",
        number(duration.ceil().max(60.0))
    ));
    match (arrivals, obs.arriving.users()) {
        (Some(process), _) => {
            head.push_str(&format!(
                "name = \"{}\"\nagent = \"fitted\"\narrivals = {}\n",
                obs.arriving.name(),
                process.toml(gaps_file)
            ));
        }
        (None, users) => {
            head.push_str(&format!(
                "name = \"users\"\nagent = \"fitted\"\nusers = {}\nthink_time = {}\n",
                users.unwrap_or(1),
                field(fields, "think_time")
                    .unwrap_or_else(|| format!("\"{}s\"", number(obs.span_s)))
            ));
        }
    }
    head
}

/// The fitted agent's table: one call a step for resampled sessions
/// (theirs are recorded), else each quantity as fitted.
fn agent(obs: &Observations, resample: bool, max_output: f64, fields: &[(&str, String)]) -> String {
    let mut tail = String::new();
    if resample {
        tail.push_str(&format!(
            "\n# Steps, tokens, tool and think times are the resampled sessions' own; the agent gives max_tokens.\n[agents.fitted]\nsteps = 1\ninput_tokens = 1\noutput_tokens = 1\nmax_output_tokens = {max_output}\n"
        ));
    } else {
        tail.push_str(&format!(
            "\n[agents.fitted]\nsteps = {}\ninput_tokens = {}\ncached_input_share = {}\noutput_tokens = {}\nmax_output_tokens = {}\n",
            field(fields, "steps").unwrap_or_else(|| "1".to_owned()),
            field(fields, "input_tokens").expect("every trace has input tokens"),
            number(obs.cached_input_share),
            field(fields, "output_tokens").expect("every trace has output tokens"),
            max_output
        ));
        if let Some(tools) = field(fields, "tool_latency") {
            tail.push_str(&format!("tool_latency = {tools}\n"));
        }
        if let (Some(growth), Some(cached)) =
            (field(fields, "context_growth"), obs.context_cached_share)
        {
            tail.push_str(&format!(
                "context_growth = {{ per_step = {growth}, cached_share = {} }}\n",
                number(cached)
            ));
        }
    }
    tail
}

/// The fitted model for `obs`; `stem` names its empirical CSVs
/// (`<stem>.<quantity>.csv`); `comment` heads the file; sessions that
/// arrive as an open stream are resampled from `source`.
pub fn fit(obs: &Observations, stem: &str, comment: &str, source: &TraceSource) -> Fitted {
    // Sessions are resampled whole, by an open stream or by closed users;
    // closed users think between them as between a session's requests,
    // the one quantity then fitted.
    let resample = matches!(obs.arriving, Arriving::Sessions | Arriving::Users(_));
    let mut files = Vec::new();
    let mut fits = Vec::new();
    let mut fields: Vec<(&str, String)> = Vec::new();
    for q in &obs.quantities {
        let thinks = matches!(obs.arriving, Arriving::Users(_)) && q.name == "think_time";
        if resample && !thinks {
            fits.push((q.name, None));
            continue;
        }
        // A count fitted cannot fall below zero: context that compaction
        // shrank grows by none. (Resampled sessions keep it as recorded.)
        let values: Vec<f64> = match q.kind {
            Kind::Count => q.values.iter().map(|v| v.max(0.0)).collect(),
            Kind::Seconds => q.values.clone(),
        };
        let fit = dists::fit(&values, q.kind);
        let file = format!("{stem}.{}.csv", q.name);
        fields.push((q.name, fit.chosen.toml(q.kind, &file)));
        if matches!(fit.chosen, dists::Candidate::Empirical { .. }) {
            files.push((file, fit.empirical.clone()));
        }
        fits.push((q.name, Some(fit)));
    }
    let arrivals = (!obs.gaps.is_empty()).then(|| arrivals::fit(&obs.gaps));
    let gaps_file = format!("{stem}.gaps.csv");
    if let Some(ArrivalFit::Recorded { gaps, .. }) = &arrivals {
        files.push((gaps_file.clone(), gaps.to_vec()));
    }
    let max_output = obs
        .quantities
        .iter()
        .find(|q| q.name == "output_tokens")
        .map_or(1.0, |q| q.values.iter().copied().fold(1.0, f64::max));
    let head = head(
        obs,
        (stem, comment),
        (arrivals.as_ref(), &gaps_file),
        &fields,
    );
    let mut tail = agent(obs, resample, max_output, &fields);
    tail.push_str(
        "\n# Not in the trace: the capacity it ran on. Replace it with yours.\n[capacity]\nkind = \"shared_api\"\ntime_to_first_token = \"1s\"\noutput_tokens_per_s = 60\n",
    );
    // The model, naming the trace as seen from where it is read.
    let text = |file: &str| match resample {
        true => format!(
            "{head}resample = {{ file = {}, format = {}{}{} }}\n{tail}",
            toml_string(file),
            toml_string(source.format),
            source
                .tick
                .map_or(String::new(), |t| format!(", tick = {}", toml_string(t))),
            source
                .columns
                .map_or(String::new(), |c| format!(", columns = {{ {c} }}"))
        ),
        false => format!("{head}{tail}"),
    };
    Fitted {
        model: text(source.file),
        staged_model: text(source.staged_file),
        files,
        arrivals,
        fits,
    }
}
