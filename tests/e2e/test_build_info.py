"""The binary names the libsecp256k1 it signs with, the same way everywhere: `signer version`,
`signer --version`, GET / (JSON) and the signer_build_info metric; and that is the version the
build found (pkg-config), so an upgrade of the library cannot go unnoticed (issue 21)."""
import re
import subprocess


def pkg_config_version() -> str:
    return subprocess.run(["pkg-config", "--modversion", "libsecp256k1"], check=True,
                          capture_output=True, text=True).stdout.strip()


def test_version_names_the_libsecp256k1_the_build_found(cli):
    out = cli.run("version").stdout
    lines = out.splitlines()
    assert re.fullmatch(r"signer \d+\.\d+\.\d+", lines[0]), out
    version = pkg_config_version()
    assert re.fullmatch(rf"libsecp256k1 {re.escape(version)} \((static|shared)\)( OLD: .*)?",
                        lines[1]), out
    # An old library is flagged OLD, a current one is not (cmake/Secp256k1.cmake's minimum).
    old = tuple(int(p) for p in version.split(".")) < (0, 7, 0)
    assert ("OLD:" in lines[1]) == old, out
    assert cli.run("--version").stdout == out


def test_root_and_metrics_name_the_same_library_as_signer_version(cli, signer):
    library = cli.run("version").stdout.splitlines()[1].split()[1]
    root = signer.get("/").json()
    assert root["libsecp256k1"] == library, root
    assert set(root) == {"status", "service", "version", "libsecp256k1"}, root
    metrics = signer.metrics_text().text
    info = [line for line in metrics.splitlines() if line.startswith("signer_build_info{")]
    assert len(info) == 1, info
    assert f'libsecp256k1="{library}"' in info[0] and info[0].endswith(" 1"), info
    assert f'version="{root["version"]}"' in info[0], info
