//! Writing measured choices back into a profile (`daefr bench --select --write`): only the keys
//! chosen change; comments, order and every other line stay as they were. The result is parsed and
//! validated before anything is written, and written atomically.

use std::path::{Path, PathBuf};

use toml_edit::{value, DocumentMut, Item, Table, TableLike, Value};

use super::{Config, ConfigError};

/// What `bench --select` chose for the `[model]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelChoice {
    /// `model.restorer`; `None` leaves the key as it is.
    pub restorer: Option<PathBuf>,
    /// `model.threads`.
    pub threads: u32,
    /// `model.restore_workers`.
    pub restore_workers: u32,
}

/// The profile text with `choice` written into its `[model]` section (created when missing).
/// The result is validated as a profile; `path` is only used in error messages.
pub fn with_model_choice(
    text: &str,
    path: &Path,
    choice: &ModelChoice,
) -> Result<String, ConfigError> {
    let mut doc: DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| ConfigError::Parse {
                path: path.to_path_buf(),
                message: e.to_string().trim_end().to_string(),
            })?;
    if !doc.contains_key("model") {
        doc.insert("model", Item::Table(Table::new()));
    }
    let model = doc["model"]
        .as_table_like_mut()
        .ok_or_else(|| ConfigError::Invalid {
            path: path.to_path_buf(),
            field: "model",
            problem: "is not a table".into(),
        })?;
    set(model, "threads", i64::from(choice.threads).into());
    set(
        model,
        "restore_workers",
        i64::from(choice.restore_workers).into(),
    );
    if let Some(restorer) = &choice.restorer {
        set(model, "restorer", restorer.display().to_string().into());
    }
    let edited = doc.to_string();
    Config::parse(&edited, path)?;
    Ok(edited)
}

/// Sets `key` to `new`, keeping the comments around the key and after the old value.
fn set(table: &mut dyn TableLike, key: &str, mut new: Value) {
    match table.get_mut(key).and_then(Item::as_value_mut) {
        Some(old) => {
            *new.decor_mut() = old.decor().clone();
            *old = new;
        }
        None => {
            table.insert(key, value(new));
        }
    }
}

/// Writes `choice` into the profile at `path` (see [`with_model_choice`]), atomically.
pub fn write_model_choice(path: &Path, choice: &ModelChoice) -> Result<(), ConfigError> {
    let read_error = |source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    };
    let text = std::fs::read_to_string(path).map_err(read_error)?;
    let edited = with_model_choice(&text, path, choice)?;
    crate::atomic::write_bytes_atomically(path, edited.as_bytes()).map_err(|source| {
        ConfigError::Write {
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = "# Pi 4 profile\n[source]\nkind = \"synthetic\"   # no camera\n\n[model]\n# leave one core free\nthreads = 3   # of 4\nmin_score = 0.6\n";

    #[test]
    fn only_the_chosen_keys_change_and_comments_stay() {
        let choice = ModelChoice {
            restorer: None,
            threads: 2,
            restore_workers: 2,
        };
        let edited = with_model_choice(PROFILE, Path::new("p.toml"), &choice).expect("edits");
        assert!(edited.contains("# Pi 4 profile"));
        assert!(edited.contains("kind = \"synthetic\"   # no camera"));
        assert!(
            edited.contains("# leave one core free\nthreads = 2   # of 4\n"),
            "{edited}"
        );
        assert!(edited.contains("min_score = 0.6"));
        let config = Config::parse(&edited, Path::new("p.toml")).expect("valid");
        assert_eq!(config.model.threads, 2);
        assert_eq!(config.model.restore_workers, 2);
        assert_eq!(config.model.restorer, None);
    }

    #[test]
    fn a_missing_model_section_is_added_and_an_invalid_choice_is_refused() {
        let text = "[source]\nkind = \"synthetic\"\n";
        let choice = ModelChoice {
            restorer: Some(PathBuf::from("models/other.onnx")),
            threads: 1,
            restore_workers: 3,
        };
        let edited = with_model_choice(text, Path::new("p.toml"), &choice).expect("edits");
        let config = Config::parse(&edited, Path::new("p.toml")).expect("valid");
        assert_eq!(
            config.model.restorer,
            Some(PathBuf::from("models/other.onnx"))
        );
        assert_eq!(config.model.restore_workers, 3);
        let too_many = ModelChoice {
            restore_workers: 9,
            ..choice
        };
        let err = with_model_choice(text, Path::new("p.toml"), &too_many).expect_err("refused");
        assert!(err.to_string().contains("model.restore_workers"), "{err}");
    }
}
