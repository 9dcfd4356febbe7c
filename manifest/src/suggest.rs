//! "Did you mean" suggestions for misspelt keys and names.

/// The closest of `candidates` to `typo`, when it is close enough to be a likely misspelling.
pub fn did_you_mean<'a>(
    typo: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let lowered = typo.to_ascii_lowercase();
    candidates
        .into_iter()
        .filter(|c| *c != typo)
        .map(|c| {
            // Case-only differences (`memorysize`) are the most common slip: rank them first.
            let score = if c.to_ascii_lowercase() == lowered {
                1.0
            } else {
                strsim::jaro_winkler(&lowered, &c.to_ascii_lowercase())
            };
            (score, c)
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::did_you_mean;

    #[test]
    fn suggests_close_names_only() {
        let keys = ["memorySize", "timeout", "handler", "events"];
        assert_eq!(did_you_mean("memsize", keys).as_deref(), Some("memorySize"));
        assert_eq!(
            did_you_mean("memorysize", keys).as_deref(),
            Some("memorySize")
        );
        assert_eq!(did_you_mean("handlr", keys).as_deref(), Some("handler"));
        assert_eq!(did_you_mean("zzz", keys), None);
    }
}
