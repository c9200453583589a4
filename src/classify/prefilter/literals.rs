//! The literals the prefilter searches for: a pattern's plain-literal
//! alternatives in every spelling a case-insensitive match can take, and
//! the literals every match of the rest must start or end with (or, when
//! an end may be anything, hold somewhere inside).

use regex_syntax::hir::literal::{ExtractKind, Extractor, Seq};
use regex_syntax::hir::{ClassUnicode, ClassUnicodeRange};

/// Literals shorter than this occur in nearly every text and would only
/// slow the scan down; a side with one of them does not filter.
const MIN_LITERAL: usize = 3;

/// Literal-set sizes allowed when testing an alternative for being a
/// plain set of literals (an optional word doubles the set).
const EXACT_LIMIT_TOTAL: usize = 512;

/// The searchable forms of every string an alternative matches (under
/// its pattern's leading flag group), when it matches a finite set of
/// non-empty literals and nothing else.
pub(super) fn exact_forms(flags: &str, alternative: &str) -> Option<Vec<Vec<u8>>> {
    // A plain phrase (most alternatives of the named word lists) is its
    // own literal and needs no parse.
    let texts = if is_plain(flags.contains('x'), alternative) {
        vec![alternative.to_string()]
    } else {
        literal_texts(&format!("{flags}{alternative}"))?
    };
    let mut out: Vec<Vec<u8>> = Vec::new();
    for text in &texts {
        if text.is_empty() {
            return None;
        }
        let (forms, whole) = searchable_forms(text.chars(), false);
        if !whole {
            return None;
        }
        for f in forms {
            let f = f.into_iter().collect::<String>().into_bytes();
            if !out.contains(&f) {
                out.push(f);
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Whether a text holds no regex syntax, so that it matches only itself
/// (in verbose mode, whitespace and `#` are syntax too).
fn is_plain(verbose: bool, text: &str) -> bool {
    !text.is_empty()
        && !text
            .chars()
            .any(|c| r"\.+*?()|[]{}^$".contains(c) || (verbose && (c == '#' || c.is_whitespace())))
}

/// The literals a pattern matches, parsed, when it matches a finite set
/// of them and nothing else.
fn literal_texts(pattern: &str) -> Option<Vec<String>> {
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(&without_leading_case_flag(pattern))
        .ok()?;
    // The extractor reads a look-around (`^`, `\b`) as the empty string:
    // the literals it gives for such a pattern are not the whole story.
    if !hir.properties().look_set().is_empty() {
        return None;
    }
    let mut extractor = Extractor::new();
    extractor
        .kind(ExtractKind::Prefix)
        .limit_total(EXACT_LIMIT_TOTAL);
    let seq = extractor.extract(&hir);
    if !seq.is_exact() {
        return None;
    }
    seq.literals()?
        .iter()
        .map(|lit| std::str::from_utf8(lit.as_bytes()).ok().map(str::to_string))
        .collect()
}

/// The lowercased literals every match of the parsed pattern must start
/// (or end) with, or None when it has no such finite set of useful literals.
pub(super) fn side_literals(
    hir: &regex_syntax::hir::Hir,
    kind: ExtractKind,
) -> Option<Vec<Vec<u8>>> {
    let mut extractor = Extractor::new();
    extractor.kind(kind.clone());
    let seq: Seq = extractor.extract(hir);
    let lits = seq.literals()?;
    if lits.is_empty() {
        // No match is possible at all; keep it simple and always run it.
        return None;
    }
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(lits.len());
    for lit in lits {
        let forms = searchable_end(lit.as_bytes(), matches!(kind, ExtractKind::Prefix))?;
        for form in forms {
            if !out.contains(&form) {
                out.push(form);
            }
        }
    }
    Some(out)
}

/// Literals one of which every match of the parsed pattern holds
/// somewhere (lowercased, as [`side_literals`] gives them), chosen for
/// their shortest member being longest: each alternative of an
/// alternation contributes its own best set, and a concatenation the best
/// of its parts' sets or of its own ends. None when some alternative has
/// no such set.
pub(super) fn inner_literals(hir: &regex_syntax::hir::Hir) -> Option<Vec<Vec<u8>>> {
    use regex_syntax::hir::HirKind;
    fn strength(lits: &[Vec<u8>]) -> (usize, std::cmp::Reverse<usize>) {
        let shortest = lits.iter().map(Vec::len).min().unwrap_or(0);
        (shortest, std::cmp::Reverse(lits.len()))
    }
    fn best(hir: &regex_syntax::hir::Hir, depth: usize) -> Option<Vec<Vec<u8>>> {
        if depth > 16 {
            return None;
        }
        let mut candidates: Vec<Vec<Vec<u8>>> = Vec::new();
        match hir.kind() {
            HirKind::Alternation(alternatives) => {
                let mut union: Vec<Vec<u8>> = Vec::new();
                for alternative in alternatives {
                    for lit in best(alternative, depth + 1)? {
                        if !union.contains(&lit) {
                            union.push(lit);
                        }
                    }
                }
                candidates.push(union);
            }
            HirKind::Concat(parts) => {
                candidates.extend(parts.iter().filter_map(|part| best(part, depth + 1)));
            }
            HirKind::Capture(capture) => candidates.extend(best(&capture.sub, depth + 1)),
            HirKind::Repetition(repetition) if repetition.min >= 1 => {
                candidates.extend(best(&repetition.sub, depth + 1))
            }
            _ => {}
        }
        candidates.extend(side_literals(hir, ExtractKind::Prefix));
        candidates.extend(side_literals(hir, ExtractKind::Suffix));
        candidates
            .into_iter()
            .filter(|lits| !lits.is_empty() && lits.len() <= MAX_INNER_LITERALS)
            .max_by_key(|lits| strength(lits))
    }
    best(hir, 0)
}

/// Most literals one pattern's inner set may have: a larger set finds
/// something in nearly every text.
const MAX_INNER_LITERALS: usize = 64;

/// Most spellings one literal end may expand to (case variants of its
/// non-ASCII letters).
const MAX_FORMS: usize = 8;

/// Characters of a literal end kept for the scan.
const MAX_SIDE_CHARS: usize = 16;

/// The end of a literal next to the match boundary (its start, or its
/// end when `!prefix`), in the forms a case-insensitive match can take in
/// the text, for a search that folds only ASCII case: ASCII letters are
/// lowercased, caseless characters (CJK, digits, punctuation) kept as
/// they are, and a non-ASCII letter gives one form per character it
/// matches ("ü" and "Ü"). None when that end is too short to filter.
fn searchable_end(bytes: &[u8], prefix: bool) -> Option<Vec<Vec<u8>>> {
    // The extractor cuts long literals by bytes, possibly inside a
    // character: keep only whole characters next to the boundary.
    let text = if prefix {
        match std::str::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).ok()?,
        }
    } else {
        let start = bytes
            .iter()
            .position(|&b| b & 0xC0 != 0x80)
            .unwrap_or(bytes.len());
        std::str::from_utf8(&bytes[start..]).ok()?
    };
    // Only the characters next to the boundary: a match holds them
    // whenever it holds the whole literal, and short literals keep the
    // automaton small (cheaper to build, more often a DFA).
    let (forms, _) = if prefix {
        searchable_forms(text.chars().take(MAX_SIDE_CHARS), false)
    } else {
        searchable_forms(text.chars().rev().take(MAX_SIDE_CHARS), true)
    };
    let forms: Vec<Vec<u8>> = forms
        .into_iter()
        .map(|f| f.into_iter().collect::<String>().into_bytes())
        .collect();
    forms
        .iter()
        .all(|f| f.len() >= MIN_LITERAL)
        .then_some(forms)
}

/// The spellings a case-insensitive match of these characters can take,
/// up to [`MAX_FORMS`] of them, built character by character (in reverse
/// when `reversed`, and then given back in text order); and whether
/// every character made it in.
fn searchable_forms(chars: impl Iterator<Item = char>, reversed: bool) -> (Vec<Vec<char>>, bool) {
    let mut forms: Vec<Vec<char>> = vec![Vec::new()];
    let mut whole = true;
    for c in chars {
        // Nearly every character is ASCII and has one form: extend in
        // place rather than rebuilding every spelling for each character
        // (this runs for every literal of every rule at start-up).
        if c.is_ascii() {
            let lower = c.to_ascii_lowercase();
            forms.iter_mut().for_each(|f| f.push(lower));
            continue;
        }
        let variants = simple_case_variants(c);
        if forms.len() * variants.len() > MAX_FORMS {
            whole = false;
            break;
        }
        forms = forms
            .iter()
            .flat_map(|f| {
                variants.iter().map(move |&v| {
                    let mut g = f.clone();
                    g.push(v);
                    g
                })
            })
            .collect();
    }
    if reversed {
        forms.iter_mut().for_each(|f| f.reverse());
    }
    (forms, whole)
}

/// The characters a case-insensitive pattern character `c` matches, as
/// the regex crate folds case (Unicode simple case folding).
fn simple_case_variants(c: char) -> Vec<char> {
    let mut class = ClassUnicode::new([ClassUnicodeRange::new(c, c)]);
    class.case_fold_simple();
    class
        .ranges()
        .iter()
        .flat_map(|r| r.start()..=r.end())
        .collect()
}

/// The pattern without an `i` in its leading flag group: the search is
/// case-insensitive anyway, and case-folded literals would multiply past the
/// extractor's limits and leave only short, useless prefixes.
pub(super) fn without_leading_case_flag(pattern: &str) -> String {
    if let Some(rest) = pattern.strip_prefix("(?")
        && let Some(end) = rest.find(')')
        && rest[..end].chars().all(|c| "imsxuUR".contains(c))
    {
        let flags: String = rest[..end].chars().filter(|&c| c != 'i').collect();
        let tail = &rest[end + 1..];
        return if flags.is_empty() {
            tail.to_string()
        } else {
            format!("(?{flags}){tail}")
        };
    }
    pattern.to_string()
}
