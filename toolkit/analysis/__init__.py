"""Analysis of snapshot folders (the apps' and reports' side): reading them safely, derived figures.

Nothing here imports `toolkit.live`: analysis reads the snapshot format only.
"""
