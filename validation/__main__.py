"""``python -m validation [--quick] [--only NAME ...] [--out DIR] [--seed N] [--list]``."""
import matplotlib

matplotlib.use("Agg")

from .runner import main  # noqa: E402

raise SystemExit(main())
