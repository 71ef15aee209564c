//! The bounds model parameters share, checked where model values are made
//! and where model files are read, with one wording.

use crate::error::BadInput;

/// `x` if it is finite and above zero.
pub fn positive(x: f64) -> Result<f64, BadInput> {
    if x.is_finite() && x > 0.0 {
        Ok(x)
    } else {
        Err(BadInput(format!("must be > 0 (got {x})")))
    }
}

/// `x` if it is finite and not below zero.
pub fn non_negative(x: f64) -> Result<f64, BadInput> {
    if x.is_finite() && x >= 0.0 {
        Ok(x)
    } else {
        Err(BadInput(format!("must be >= 0 (got {x})")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_refuse_what_they_name() {
        assert_eq!(positive(2.0), Ok(2.0));
        assert_eq!(positive(0.0), Err(BadInput::new("must be > 0 (got 0)")));
        assert!(positive(f64::INFINITY).is_err() && positive(f64::NAN).is_err());
        assert_eq!(non_negative(0.0), Ok(0.0));
        assert_eq!(
            non_negative(-1.0),
            Err(BadInput::new("must be >= 0 (got -1)"))
        );
    }
}
