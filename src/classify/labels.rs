//! Hierarchical labels (level 1 is the coarsest, e.g. class > mechanism >
//! group, or phylum > … > genus) and where they come from: a CSV with an id
//! column and one column per level, a TSV `id<TAB>l1;l2;...`, or named groups
//! of a regular expression applied to FASTA headers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{CrestError, Result};
use crate::io::open_text;

/// Labels of one sequence, one per level.
pub type Lineage = Vec<String>;

/// Where labels come from.
#[derive(Clone, Debug)]
pub enum LabelSource {
    /// A CSV (header line; `.gz` allowed): the id column and one column per level.
    Csv {
        /// The file.
        path: PathBuf,
        /// Column holding the FASTA header (or its first word).
        id_column: String,
        /// Level columns, coarsest first.
        levels: Vec<String>,
    },
    /// A TSV without header: `id<TAB>level1;level2;...`.
    Tsv {
        /// The file.
        path: PathBuf,
        /// Names of the levels, coarsest first.
        levels: Vec<String>,
    },
    /// Named capture groups of a regular expression on the FASTA header.
    Regex {
        /// The expression.
        regex: regex::Regex,
        /// Group names used as levels, coarsest first.
        levels: Vec<String>,
    },
}

/// Labels looked up by FASTA header.
pub struct LabelTable {
    levels: Vec<String>,
    by_id: HashMap<String, Lineage>,
    regex: Option<regex::Regex>,
    origin: String,
}

impl LabelSource {
    /// From command-line options: `labels` (CSV if `id_column` is given, else
    /// TSV) or `regex`; `levels` names the levels (required for files; for a
    /// regex, defaults to its named groups in order).
    pub fn from_options(
        labels: Option<&Path>,
        id_column: Option<&str>,
        regex: Option<&str>,
        levels: &[String],
    ) -> Result<LabelSource> {
        match (labels, regex) {
            (Some(_), Some(_)) => Err(CrestError::Invalid(
                "give labels either as a file (--labels) or as --label-regex, not both".into(),
            )),
            (None, None) => Err(CrestError::Invalid(
                "labels are needed: --labels FILE (with --id-column for a CSV) or --label-regex"
                    .into(),
            )),
            (Some(path), None) => {
                if levels.is_empty() {
                    return Err(CrestError::option("--levels", 
                        "--levels names the label levels, coarsest first (e.g. class,mechanism,group)",
                    ));
                }
                Ok(match id_column {
                    Some(col) => LabelSource::Csv {
                        path: path.into(),
                        id_column: col.into(),
                        levels: levels.to_vec(),
                    },
                    None => LabelSource::Tsv {
                        path: path.into(),
                        levels: levels.to_vec(),
                    },
                })
            }
            (None, Some(re)) => {
                let regex = regex::Regex::new(re).map_err(|e| {
                    CrestError::option("--label-regex", format!("--label-regex: {e}"))
                })?;
                let groups: Vec<String> =
                    regex.capture_names().flatten().map(String::from).collect();
                let levels = if levels.is_empty() {
                    groups.clone()
                } else {
                    levels.to_vec()
                };
                if levels.is_empty() {
                    return Err(CrestError::option("--label-regex", 
                        "--label-regex needs named groups, one per level, e.g. 'p:(?P<phylum>[^,;]+)'",
                    ));
                }
                if let Some(l) = levels.iter().find(|l| !groups.contains(l)) {
                    return Err(CrestError::option(
                        "--label-regex",
                        format!(
                            "--label-regex has no group named '{l}' (groups: {})",
                            groups.join(", ")
                        ),
                    ));
                }
                Ok(LabelSource::Regex { regex, levels })
            }
        }
    }

    /// Read the labels (files are read whole; regexes apply per header later).
    pub fn load(&self) -> Result<LabelTable> {
        match self {
            LabelSource::Csv {
                path,
                id_column,
                levels,
            } => read_csv(path, id_column, levels),
            LabelSource::Tsv { path, levels } => read_tsv(path, levels),
            LabelSource::Regex { regex, levels } => Ok(LabelTable {
                levels: levels.clone(),
                by_id: HashMap::new(),
                regex: Some(regex.clone()),
                origin: format!("--label-regex '{}'", regex.as_str()),
            }),
        }
    }
}

impl LabelTable {
    /// Level names, coarsest first.
    pub fn levels(&self) -> &[String] {
        &self.levels
    }

    /// Labels of the sequence with FASTA `name` (first word) and full
    /// `header` (name and description): looked up by the full header, then
    /// by the name; None when the table has no entry (or the regex does not
    /// match). An entry with an empty level is an error.
    pub fn lookup(&self, name: &str, header: &str) -> std::result::Result<Option<Lineage>, String> {
        if let Some(re) = &self.regex {
            let Some(caps) = re.captures(header) else {
                return Ok(None);
            };
            let mut out = Vec::with_capacity(self.levels.len());
            for l in &self.levels {
                match caps.name(l).map(|m| m.as_str().trim()) {
                    Some(v) if !v.is_empty() => out.push(v.to_string()),
                    _ => {
                        return Err(format!(
                            "{}: level '{l}' is missing or empty in header '{header}'",
                            self.origin
                        ))
                    }
                }
            }
            return Ok(Some(out));
        }
        Ok(self
            .by_id
            .get(header)
            .or_else(|| self.by_id.get(name))
            .cloned())
    }

    /// Where the labels came from (for messages).
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// Split one CSV line (RFC 4180 quotes allowed; no newlines inside fields).
pub fn split_csv(line: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    cur.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' && at_start {
            quoted = true;
            at_start = false;
        } else if c == ',' {
            out.push(std::mem::take(&mut cur));
            at_start = true;
        } else {
            cur.push(c);
            at_start = false;
        }
    }
    if quoted {
        return Err("unterminated quoted field".into());
    }
    out.push(cur);
    Ok(out)
}

fn read_lines(path: &Path) -> Result<Vec<String>> {
    let r = open_text(path)?;
    std::io::BufRead::lines(r)
        .map(|l| {
            l.map(|s| s.trim_end_matches('\r').to_string())
                .map_err(|e| CrestError::io(path, e))
        })
        .collect()
}

fn line_err(path: &Path, line: usize, message: impl Into<String>) -> CrestError {
    CrestError::Format {
        path: path.into(),
        record: line as u64,
        message: format!("line {line}: {}", message.into()),
    }
}

fn insert(
    by_id: &mut HashMap<String, Lineage>,
    path: &Path,
    line: usize,
    id: &str,
    lineage: Lineage,
) -> Result<()> {
    if id.is_empty() {
        return Err(line_err(path, line, "empty id"));
    }
    match by_id.get(id) {
        Some(old) if *old != lineage => Err(line_err(
            path,
            line,
            format!("id '{id}' appears again with other labels"),
        )),
        _ => {
            by_id.insert(id.to_string(), lineage);
            Ok(())
        }
    }
}

fn read_csv(path: &Path, id_column: &str, levels: &[String]) -> Result<LabelTable> {
    let lines = read_lines(path)?;
    let Some(head) = lines.first() else {
        return Err(CrestError::UnknownFormat {
            path: path.into(),
            message: "empty label file (a CSV with a header line is expected)".into(),
        });
    };
    let cols = split_csv(head).map_err(|m| line_err(path, 1, m))?;
    let find = |name: &str| {
        cols.iter().position(|c| c.trim() == name).ok_or_else(|| {
            line_err(
                path,
                1,
                format!("no column '{name}' (columns: {})", cols.join(", ")),
            )
        })
    };
    let id_col = find(id_column)?;
    let level_cols = levels.iter().map(|l| find(l)).collect::<Result<Vec<_>>>()?;
    let mut by_id = HashMap::new();
    for (i, line) in lines.iter().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let f = split_csv(line).map_err(|m| line_err(path, i + 1, m))?;
        if f.len() != cols.len() {
            return Err(line_err(
                path,
                i + 1,
                format!("{} fields, the header has {}", f.len(), cols.len()),
            ));
        }
        let mut lineage = Vec::with_capacity(levels.len());
        for (l, &c) in levels.iter().zip(&level_cols) {
            let v = f[c].trim();
            if v.is_empty() {
                return Err(line_err(path, i + 1, format!("level '{l}' is empty")));
            }
            lineage.push(v.to_string());
        }
        insert(&mut by_id, path, i + 1, f[id_col].trim(), lineage)?;
    }
    Ok(LabelTable {
        levels: levels.to_vec(),
        by_id,
        regex: None,
        origin: path.display().to_string(),
    })
}

fn read_tsv(path: &Path, levels: &[String]) -> Result<LabelTable> {
    let mut by_id = HashMap::new();
    for (i, line) in read_lines(path)?.iter().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((id, lab)) = line.split_once('\t') else {
            return Err(line_err(path, i + 1, "expected 'id<TAB>level1;level2;...'"));
        };
        let lineage: Lineage = lab
            .trim()
            .split(';')
            .map(|s| s.trim().to_string())
            .collect();
        if lineage.len() != levels.len() || lineage.iter().any(|s| s.is_empty()) {
            return Err(line_err(
                path,
                i + 1,
                format!(
                    "'{lab}' does not give all {} levels ({})",
                    levels.len(),
                    levels.join(";")
                ),
            ));
        }
        insert(&mut by_id, path, i + 1, id.trim(), lineage)?;
    }
    Ok(LabelTable {
        levels: levels.to_vec(),
        by_id,
        regex: None,
        origin: path.display().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_with_quotes() {
        assert_eq!(
            split_csv(r#"a,"b,c",,"d""e""#).unwrap(),
            vec!["a", "b,c", "", "d\"e"]
        );
        assert!(split_csv(r#"a,"b"#).is_err());
    }

    #[test]
    fn regex_levels_and_missing_group() {
        let src = LabelSource::from_options(
            None,
            None,
            Some(r"p:(?P<phylum>[^,;]*),c:(?P<class>[^,;]*)"),
            &[],
        )
        .unwrap();
        let t = src.load().unwrap();
        assert_eq!(t.levels(), &["phylum".to_string(), "class".to_string()]);
        let h = "gi_1;tax=d:Bacteria,p:Firmicutes,c:Bacilli,o:x;";
        assert_eq!(
            t.lookup("gi_1", h).unwrap().unwrap(),
            vec!["Firmicutes", "Bacilli"]
        );
        assert!(t.lookup("x", "no labels here").unwrap().is_none());
        assert!(t.lookup("x", "p:Firmicutes,c:").is_err());
        assert!(LabelSource::from_options(None, None, Some("(?P<a>x)"), &["b".into()]).is_err());
    }
}
