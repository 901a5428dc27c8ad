"""Where the repository's parts are. The recipe's package goes on the import
path because the .tok reader, PESQ/STOI and the training loss's mel filters
live there, and the evaluation must use those very definitions."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODELS_DIR = REPO / "models"
RECIPE = MODELS_DIR / "recipe"
DEFAULT_CODEC = REPO / "target" / "release" / "codec"
SR = 16000

if str(RECIPE) not in sys.path:
    sys.path.insert(0, str(RECIPE))
