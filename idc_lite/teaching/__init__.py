"""The teaching layer: exercise checkers (``checks``), interactive explorers (``explorers``) and the
nbgrader assignments (``assignments``).  It builds on the rest of the package and nothing there
depends on it."""
