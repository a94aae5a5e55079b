//! Glob-style pattern matching for `KEYS` and `SCAN MATCH`, as Redis does it:
//! `*`, `?`, `[abc]`, `[^abc]`, `[a-z]`, and `\` to escape the next byte.

/// One element of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Star,
    Any,
    Byte(u8),
    Class {
        negated: bool,
        ranges: Vec<(u8, u8)>,
    },
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    tokens: Vec<Token>,
    /// `*` alone matches everything: skip the work.
    everything: bool,
}

impl Pattern {
    /// Compiles `pattern`. Never fails: a `[` without `]` ends the class at the
    /// end of the pattern, as in Redis.
    pub fn new(pattern: &[u8]) -> Pattern {
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < pattern.len() {
            let c = pattern[i];
            i += 1;
            match c {
                b'*' => {
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                }
                b'?' => tokens.push(Token::Any),
                b'\\' if i < pattern.len() => {
                    tokens.push(Token::Byte(pattern[i]));
                    i += 1;
                }
                b'[' => {
                    let negated = pattern.get(i) == Some(&b'^');
                    if negated {
                        i += 1;
                    }
                    let mut ranges = Vec::new();
                    while i < pattern.len() && pattern[i] != b']' {
                        let mut lo = pattern[i];
                        if lo == b'\\' && i + 1 < pattern.len() {
                            i += 1;
                            lo = pattern[i];
                        }
                        if pattern.get(i + 1) == Some(&b'-') && i + 2 < pattern.len() {
                            let hi = pattern[i + 2];
                            ranges.push((lo.min(hi), lo.max(hi)));
                            i += 3;
                        } else {
                            ranges.push((lo, lo));
                            i += 1;
                        }
                    }
                    i += 1; // the ']'
                    tokens.push(Token::Class { negated, ranges });
                }
                other => tokens.push(Token::Byte(other)),
            }
        }
        let everything = tokens == [Token::Star];
        Pattern { tokens, everything }
    }

    /// True when `text` matches the whole pattern.
    pub fn matches(&self, text: &[u8]) -> bool {
        if self.everything {
            return true;
        }
        // Backtracking over the last star only: linear-ish, never exponential.
        let (mut p, mut t) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.tokens.get(p) {
                Some(Token::Star) => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                Some(tok) if one(tok, text[t]) => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
            match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            }
        }
        self.tokens[p..].iter().all(|t| *t == Token::Star)
    }
}

fn one(tok: &Token, c: u8) -> bool {
    match tok {
        Token::Star => unreachable!("handled by the caller"),
        Token::Any => true,
        Token::Byte(b) => *b == c,
        Token::Class { negated, ranges } => {
            ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&c)) != *negated
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_like_redis() {
        let m = |p: &str, t: &str| Pattern::new(p.as_bytes()).matches(t.as_bytes());
        assert!(m("*", "anything"));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("user:*:name", "user:42:name"));
        assert!(!m("user:*:name", "user:42:mail"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m("*a*a*a*a*a*b", &"aaab".repeat(3)));
        assert!(!m("*a*a*a*a*a*a*a*a*b", &"a".repeat(60)));
        assert!(m("", ""));
        assert!(!m("", "x"));
    }
}
