"""The delivery health page's charts: pygal draws them as SVG on the server, put inline in the page.

Nothing runs in the browser: pygal's tooltip script is left out (``js=[]``) and its inline config
script removed (``add_xml_filter``), so the page's Content-Security-Policy allows everything
the charts hold. Each chart draws the numbers of a table beside it on the page.
"""

from datetime import timedelta

import pygal
from pygal.style import Style

from delivery.health import Counts, DeliveryHealth

# One colour per outcome, the same on every chart: delivered green, accepted blue, bounced orange,
# failed red.
OUTCOME_COLOURS = {"delivered": "#2e7d32", "accepted": "#1565c0", "bounced": "#ef6c00", "failed": "#c62828"}
CHART_ORDER = ("delivered", "accepted", "bounced", "failed")
FONTS = {
    "background": "transparent",
    "plot_background": "transparent",
    "font_family": "-apple-system, 'Segoe UI', system-ui, Roboto, sans-serif",
    "label_font_size": 11,
    "major_label_font_size": 11,
    "legend_font_size": 12,
    "title_font_size": 14,
    "no_data_font_size": 16,
}
STYLE = Style(**FONTS, colors=tuple(OUTCOME_COLOURS[outcome] for outcome in CHART_ORDER))
RATES_STYLE = Style(**FONTS, colors=(OUTCOME_COLOURS["delivered"], OUTCOME_COLOURS["bounced"]))


def _without_scripts(root):
    """A pygal XML filter: drop the <script> elements (the config of its tooltip script)."""
    for parent in list(root.iter()):
        for child in list(parent):
            if isinstance(child.tag, str) and child.tag.rsplit("}", 1)[-1] == "script":
                parent.remove(child)
    return root


def _config(**options) -> dict:
    return {
        "js": [],
        "disable_xml_declaration": True,
        "style": STYLE,
        "legend_at_bottom": True,
        "legend_at_bottom_columns": 4,
        "print_zeroes": False,
        "show_minor_x_labels": True,
        "truncate_label": -1,
        "height": 320,
        **options,
    }


def _whole_number_ticks(highest: int) -> list[int]:
    """Up to about six ticks at a round step (1, 2, 5, 10, 20, 50, ...), from 0 past ``highest``."""
    step = 1
    while highest / step > 6:
        for factor in (2, 2.5, 2):
            step = int(step * factor)
            if highest / step <= 6:
                break
    return list(range(0, highest + step, step))


def outcomes_chart(health: DeliveryHealth) -> str:
    """Sends per hour or day, stacked by outcome."""
    hourly = health.step == timedelta(hours=1)
    highest = max((bucket.total for bucket in health.buckets), default=0)
    chart = pygal.StackedBar(
        **_config(
            title="Sends by outcome, per " + ("hour" if hourly else "day") + " (UTC)",
            x_title="Hour starting (UTC)" if hourly else "Day (UTC)",
            y_title="Sends",
            width=960,
            x_label_rotation=-45 if not hourly and len(health.buckets) > 10 else 0,
            show_minor_x_labels=not hourly,
            y_labels=_whole_number_ticks(max(highest, 1)),
            value_formatter=lambda value: f"{value:,.0f}",
        )
    )
    chart.x_labels = [bucket.start.strftime("%H:%M" if hourly else "%b %d") for bucket in health.buckets]
    if hourly:
        chart.x_labels_major = chart.x_labels[::3]
    for outcome in CHART_ORDER:
        chart.add(outcome, [getattr(bucket, outcome) for bucket in health.buckets])
    return chart.add_xml_filter(_without_scripts).render(is_unicode=True)


def rates_chart(title: str, rows: dict[str, Counts]) -> str:
    """Delivery and bounce rates, in percent, one pair of bars per channel or provider ("" when no
    send was accepted: there is no rate to draw)."""
    rows = {name: counts for name, counts in rows.items() if counts.delivery_rate is not None}
    if not rows:
        return ""
    chart = pygal.HorizontalBar(
        **_config(
            title=title,
            x_title="Percent of sends accepted by a provider",
            width=470,
            height=max(200, 90 + 50 * len(rows)),
            range=(0, 100),
            y_labels=[0, 20, 40, 60, 80, 100],
            style=RATES_STYLE,
            value_formatter=lambda value: f"{value:.1f} %",
            legend_at_bottom_columns=2,
        )
    )
    # pygal draws a horizontal chart's first label at the bottom: reversed, it reads down as the table does.
    names = list(reversed(rows))
    chart.x_labels = names
    chart.add("delivery rate", [rows[name].delivery_percent for name in names])
    chart.add("bounce rate", [rows[name].bounce_percent for name in names])
    return chart.add_xml_filter(_without_scripts).render(is_unicode=True)
