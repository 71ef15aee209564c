//! Queueing results the checks compare against, each with its source.

/// Erlang C (Kleinrock, Queueing Systems vol. 1, eq. 3.40): the probability
/// that an arrival waits in an M/M/c queue with offered load `a` = λ/μ.
pub fn erlang_c(c: u32, a: f64) -> f64 {
    let mut term = 1.0;
    let mut sum = 0.0;
    for k in 0..c {
        sum += term;
        term *= a / f64::from(k + 1);
    }
    let tail = term * f64::from(c) / (f64::from(c) - a);
    tail / (sum + tail)
}

/// The M/M/c mean wait in queue, rates per second: C(c, λ/μ) / (cμ − λ).
pub fn mmc_wait(c: u32, lambda: f64, mu: f64) -> f64 {
    erlang_c(c, lambda / mu) / (f64::from(c) * mu - lambda)
}

/// The M/G/1 mean wait in queue by Pollaczek–Khinchine (Kleinrock vol. 1,
/// eq. 5.72): λ E[S²] / (2 (1 − ρ)), with ρ = λ E[S].
pub fn pollaczek_khinchine_wait(lambda: f64, mean_service: f64, second_moment: f64) -> f64 {
    lambda * second_moment / (2.0 * (1.0 - lambda * mean_service))
}

/// The closed M/M/c//N queue (the machine-repairman model, Kleinrock vol. 1,
/// section 3.8): `users` each think for an exponential time of mean `think`
/// seconds, then wait for one of `servers` exponential servers of mean
/// `service` seconds. Solved exactly as a birth–death chain on the number
/// of users at the servers; returns the throughput (per second) and the
/// mean response time (wait plus service, seconds) by Little's law.
pub fn closed_queue(users: u32, think: f64, servers: u32, service: f64) -> (f64, f64) {
    let mut p = vec![1.0f64];
    for n in 1..=users {
        let up = f64::from(users - (n - 1)) / think;
        let down = f64::from(n.min(servers)) / service;
        p.push(p[p.len() - 1] * up / down);
    }
    let total: f64 = p.iter().sum();
    let (mut throughput, mut at_servers) = (0.0, 0.0);
    for (n, pn) in p.iter().enumerate() {
        let n = n as u32;
        throughput += pn / total * f64::from(n.min(servers)) / service;
        at_servers += pn / total * f64::from(n);
    }
    (throughput, at_servers / throughput)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_c_matches_the_four_server_example() {
        // Kleinrock's example: λ = 0.35/min, 10 min service: P(wait) 0.738, Wq 14.76 min.
        let p = erlang_c(4, 3.5);
        assert!((p - 0.738).abs() < 5e-4, "{p}");
        assert!((mmc_wait(4, 0.35, 0.1) - 14.76).abs() < 0.01);
    }

    #[test]
    fn pollaczek_khinchine_reduces_to_mm1_and_md1() {
        // Exponential service: E[S²] = 2/μ², giving ρ/(μ − λ).
        assert!((pollaczek_khinchine_wait(0.5, 1.0, 2.0) - 1.0).abs() < 1e-12);
        // Deterministic service: ρ / (2μ(1 − ρ)).
        assert!((pollaczek_khinchine_wait(0.8, 1.0, 1.0) - 2.0).abs() < 1e-12);
    }

    #[test]
    fn the_closed_queue_agrees_with_its_limits() {
        // One user never waits: response = service, throughput 1/(Z + S).
        let (x, r) = closed_queue(1, 60.0, 2, 10.0);
        assert!((r - 10.0).abs() < 1e-9 && (x - 1.0 / 70.0).abs() < 1e-12);
        // As many servers as users: no one waits either.
        let (_, r) = closed_queue(5, 60.0, 5, 10.0);
        assert!((r - 10.0).abs() < 1e-9);
        // Interactive response-time law: R = N/X − Z.
        let (x, r) = closed_queue(14, 60.0, 2, 10.0);
        assert!((r - (14.0 / x - 60.0)).abs() < 1e-9, "{r}");
        assert!((r - 20.914).abs() < 1e-3, "{r}");
    }
}
