//! An axis over a model path: the whole numbers it takes, written as a
//! range (`8..64`), a stepped range (`8..64 step 8`) or a list (`8,16,32`),
//! as `size --over` and a plans file's templates take them; and every
//! setting of several axes.

use serde::{Deserialize, Serialize};

use crate::error::BadInput;

/// One axis: a model path and the values it takes, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Axis {
    pub path: String,
    pub values: Vec<i64>,
}

/// Every setting of `axes`, the first axis slowest.
pub fn settings(axes: &[Axis]) -> Vec<Vec<i64>> {
    axes.iter().fold(vec![Vec::new()], |done, axis| {
        done.iter()
            .flat_map(|head| {
                axis.values.iter().map(move |&v| {
                    let mut s = head.clone();
                    s.push(v);
                    s
                })
            })
            .collect()
    })
}

/// `PATH=LO..HI`, `PATH=LO..HI step S` or `PATH=A,B,C` (whole numbers):
/// the axis `flag` names.
pub fn parse_axis(flag: &str, text: &str) -> Result<Axis, BadInput> {
    let bad = |why: &str| {
        BadInput(format!(
            "{flag} {text}: {why}: expected PATH=LO..HI, PATH=LO..HI step S or PATH=A,B,C with whole numbers, e.g. capacity.lanes=8..64 step 8"
        ))
    };
    let (path, range) = text.split_once('=').ok_or_else(|| bad("no `=`"))?;
    let number = |s: &str| {
        s.trim()
            .parse::<i64>()
            .map_err(|_| bad(&format!("`{}` is not a whole number", s.trim())))
    };
    let values: Vec<i64> = match range.split_once("..") {
        Some((lo, rest)) => {
            let (hi, step) = match rest.split_once("step") {
                Some((hi, step)) => (hi, number(step)?),
                None => (rest, 1),
            };
            let (lo, hi) = (number(lo)?, number(hi)?);
            if lo > hi {
                return Err(bad(&format!("LO ({lo}) is above HI ({hi})")));
            }
            if step < 1 {
                return Err(bad(&format!("step {step} is not a positive whole number")));
            }
            let mut values: Vec<i64> = (lo..=hi).step_by(step as usize).collect();
            // The top of the range is always tried.
            if values.last() != Some(&hi) {
                values.push(hi);
            }
            values
        }
        None => {
            let mut values = range
                .split(',')
                .map(number)
                .collect::<Result<Vec<_>, _>>()?;
            values.sort_unstable();
            values.dedup();
            values
        }
    };
    Ok(Axis {
        path: path.trim().to_owned(),
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_read_as_ranges_steps_and_lists() {
        let values = |text| parse_axis("--over", text).map(|a| a.values);
        assert_eq!(values("capacity.lanes=2..5").unwrap(), vec![2, 3, 4, 5]);
        assert_eq!(
            values("capacity.lanes=16..64 step 16").unwrap(),
            vec![16, 32, 48, 64]
        );
        assert_eq!(
            values("capacity.lanes=1..10 step 4").unwrap(),
            vec![1, 5, 9, 10]
        );
        assert_eq!(values("capacity.lanes=8,2,4,4").unwrap(), vec![2, 4, 8]);
        for (text, why) in [
            ("capacity.lanes", "no `=`"),
            ("capacity.lanes=5..2", "LO (5) is above HI (2)"),
            ("capacity.lanes=1..8 step 0", "step 0 is not a positive"),
            ("capacity.lanes=1..x", "`x` is not a whole number"),
        ] {
            let e = parse_axis("--over", text).unwrap_err().0;
            assert!(e.contains(why) && e.contains("PATH=LO..HI step S"), "{e}");
        }
        assert_eq!(
            settings(&[
                Axis {
                    path: "a".into(),
                    values: vec![1, 2]
                },
                Axis {
                    path: "b".into(),
                    values: vec![5, 6]
                },
            ]),
            vec![vec![1, 5], vec![1, 6], vec![2, 5], vec![2, 6]]
        );
    }
}
