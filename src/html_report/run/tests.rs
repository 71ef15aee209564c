use super::*;

/// Catalogue metrics the run page leaves out, and why.
const LEFT_OUT: &[(Scope, &str, &str)] = &[(
    Scope::Run,
    "loop_latency_cdf_s",
    "its quantiles draw the sweeps' CDF figures; the page gives percentiles",
)];

#[test]
fn every_column_of_the_page_is_a_catalogue_metric_of_its_scope() {
    for scope in Scope::ALL {
        for column in columns(scope) {
            assert!(
                scope.find(column).is_some(),
                "the run page shows {column} ({scope:?}), which the catalogue does not know"
            );
        }
    }
}

#[test]
fn every_catalogue_metric_is_on_the_page_or_left_out_with_a_reason() {
    for scope in Scope::ALL {
        let shown: Vec<&str> = columns(scope)
            .into_iter()
            .filter_map(|c| scope.find(c).map(|(m, _)| m.name))
            .collect();
        for m in scope.metrics() {
            let left_out = LEFT_OUT.iter().any(|&(s, n, _)| s == scope && n == m.name);
            assert!(
                shown.contains(&m.name) != left_out,
                "{} ({scope:?}) is in the catalogue, and {} on the run page",
                m.name,
                if left_out {
                    "both shown and left out"
                } else {
                    "not"
                }
            );
        }
    }
}
