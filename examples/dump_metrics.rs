use loopcap::model::measure::summary::Summary;
fn main() {
    for n in Summary::metric_names(["C"], 1, ["W"], [("P", true)], ["M"]) {
        let better = loopcap::sizing::slo::better(&n);
        println!(
            "{n}\t{better:?}\t{}",
            loopcap::plot::labels::metric_label(&n)
        );
    }
}
