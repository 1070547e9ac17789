"""The house's layers hold: `lint-imports` checks the contracts in .importlinter (imports run one
way, no circles inside any package, training never uses the facade, the library knows no face)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".importlinter"


def lint_imports(config: Path) -> subprocess.CompletedProcess:
    code = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"
    return subprocess.run([sys.executable, "-c", code, "--config", str(config)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_every_layer_contract_is_kept():
    out = lint_imports(CONFIG)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_an_upward_import_would_break_it(tmp_path):
    """The check can fail: with serving put below the models, serving's imports of them are upward."""
    text = CONFIG.read_text().replace("    recsys.serving\n    recsys.bundles\n    recsys.models\n",
                                      "    recsys.bundles\n    recsys.models\n    recsys.serving\n")
    assert text != CONFIG.read_text()
    swapped = tmp_path / "swapped.ini"
    swapped.write_text(text)
    out = lint_imports(swapped)
    assert out.returncode != 0 and "recsys.serving is not allowed to import recsys.models" in out.stdout
