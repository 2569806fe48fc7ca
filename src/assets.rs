//! Files the Debian package ships that are generated from a binary's clap definition: man
//! pages (one per command and subcommand, `bootctl-hosts-add.1` style) and shell completions
//! for bash, zsh and fish. Both binaries expose this as a hidden `generate-assets DIR`
//! subcommand, which `scripts/build-deb.sh` runs before `cargo deb`.

use std::path::{Path, PathBuf};

use clap_complete::Shell;

/// Errors writing the generated files.
#[derive(Debug, thiserror::Error)]
pub enum AssetsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AssetsError + '_ {
    move |source| AssetsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Write `DIR/man/NAME[-SUB...].1` and `DIR/completions/{NAME.bash,_NAME,NAME.fish}` for
/// `cmd`. Hidden subcommands (like `generate-assets` itself) get no page. Returns the files
/// written.
pub fn generate(cmd: clap::Command, dir: &Path) -> Result<Vec<PathBuf>, AssetsError> {
    let mut cmd = cmd;
    cmd.build();
    let name = cmd.get_name().to_string();
    let man = dir.join("man");
    let comp = dir.join("completions");
    for d in [&man, &comp] {
        std::fs::create_dir_all(d).map_err(io(d))?;
    }
    let mut written = Vec::new();
    man_pages(&cmd, &name, &man, &mut written)?;
    for (shell, file) in [
        (Shell::Bash, format!("{name}.bash")),
        (Shell::Zsh, format!("_{name}")),
        (Shell::Fish, format!("{name}.fish")),
    ] {
        let path = comp.join(file);
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd, name.clone(), &mut buf);
        std::fs::write(&path, buf).map_err(io(&path))?;
        written.push(path);
    }
    Ok(written)
}

/// One page for `cmd` (named `page`) and, recursively, one per visible subcommand.
fn man_pages(
    cmd: &clap::Command,
    page: &str,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> Result<(), AssetsError> {
    let path = dir.join(format!("{page}.1"));
    let mut buf = Vec::new();
    // `build()` gave every subcommand a display name like `bootctl-hosts-add`, which the
    // page's NAME and SYNOPSIS use.
    clap_mangen::Man::new(cmd.clone())
        .render(&mut buf)
        .map_err(io(&path))?;
    std::fs::write(&path, buf).map_err(io(&path))?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.get_name() == "help" {
            continue;
        }
        man_pages(sub, &format!("{page}-{}", sub.get_name()), dir, written)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Parser, Subcommand};

    #[derive(Parser)]
    #[command(name = "demo", about = "A demo")]
    struct Cli {
        #[command(subcommand)]
        cmd: Cmd,
    }

    #[derive(Subcommand)]
    enum Cmd {
        /// Visible.
        Shown {
            #[arg(long)]
            flag: bool,
        },
        #[command(hide = true)]
        Secret,
    }

    #[test]
    fn writes_pages_for_visible_commands_and_three_completions(
    ) -> Result<(), Box<dyn std::error::Error>> {
        use clap::CommandFactory;
        let d = tempfile::tempdir()?;
        let files = generate(Cli::command(), d.path())?;
        let names: Vec<String> = files
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        assert!(names.contains(&"demo.1".to_string()), "{names:?}");
        assert!(names.contains(&"demo-shown.1".to_string()), "{names:?}");
        assert!(!names.iter().any(|n| n.contains("secret")), "{names:?}");
        for c in ["demo.bash", "_demo", "demo.fish"] {
            assert!(names.contains(&c.to_string()), "{names:?}");
        }
        let page = std::fs::read_to_string(d.path().join("man/demo-shown.1"))?;
        assert!(page.contains("flag"), "{page}");
        let bash = std::fs::read_to_string(d.path().join("completions/demo.bash"))?;
        assert!(bash.contains("shown"), "{bash}");
        Ok(())
    }
}
