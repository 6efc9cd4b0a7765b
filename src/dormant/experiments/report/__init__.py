"""`dormant report`: a sweep's or any run directories' report, as Markdown and self-contained HTML.

- ``write.py``: `write_report`, the document and its sections;
- ``stats.py``: the aggregate statistics (IQM, probability of improvement, profiles);
- ``figures.py``: the score figures (learning curves, aggregates);
- ``plasticity.py``: the DrM and plasticity figures;
- ``settings.py``: each group's configuration and the packages its runs trained with.
"""

from __future__ import annotations

from dormant.experiments.report.write import write_report

__all__ = ["write_report"]
