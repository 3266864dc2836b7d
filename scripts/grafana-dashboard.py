#!/usr/bin/env python3
"""Writes docs/grafana/motifd.json, the Grafana dashboard for motifd.

Run from anywhere: python3 scripts/grafana-dashboard.py
The panels are declared below; the JSON is Grafana's classic dashboard model
(schemaVersion 39), importable as is, with a ${datasource} variable for the
Prometheus data source and $job / $instance variables from dsfb_build_info.
Every query is evaluated against a real Prometheus by tests/grafana_queries.rs,
and the file is type-checked against @grafana/schema by
scripts/check-grafana-schema.sh.
"""
import json
import pathlib

SEL = 'job=~"$job", instance=~"$instance"'
DS = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"


def target(expr, legend, ref, fmt=None):
    t = {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": ref, "range": True}
    if fmt:
        t["format"] = fmt
    return t


def panel(pid, kind, title, desc, pos, targets, unit=None, extra=None, options=None):
    p = {
        "id": pid,
        "type": kind,
        "title": title,
        "description": desc,
        "datasource": DS,
        "gridPos": dict(zip("xywh", pos)),
        "targets": [target(*t, ref=chr(65 + i)) if len(t) == 2 else target(t[0], t[1], chr(65 + i), t[2])
                    for i, t in enumerate(targets)],
        "fieldConfig": {"defaults": {}, "overrides": []},
        "options": options or {},
    }
    if unit:
        p["fieldConfig"]["defaults"]["unit"] = unit
    if extra:
        p["fieldConfig"]["defaults"].update(extra)
    return p


def row(pid, title, y):
    return {"id": pid, "type": "row", "title": title, "collapsed": False,
            "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "panels": []}


def quantiles(metric, by, sel=SEL):
    return [
        (f"histogram_quantile({q}, sum by ({by}le) (rate({metric}_bucket{{{sel}}}[{RATE}])))",
         f"{{{{{by.rstrip(', ')}}}}} p{int(q * 100)}" if by else f"p{int(q * 100)}")
        for q in (0.5, 0.9, 0.99)
    ]


TS = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True, "calcs": []},
      "tooltip": {"mode": "multi", "sort": "desc"}}
HEATMAP = {"calculate": False, "yAxis": {"axisPlacement": "left"}, "cellGap": 1,
           "color": {"mode": "scheme", "scheme": "Oranges", "exponent": 0.5, "steps": 64,
                     "fill": "dark-orange", "reverse": False},
           "exemplars": {"color": "rgba(255,0,255,0.7)"},
           "filterValues": {"le": 1e-9},
           "legend": {"show": True},
           "rowsFrame": {"layout": "auto"},
           "showValue": "auto",
           "tooltip": {"mode": "single", "yHistogram": False, "showColorScale": False},
           "cellValues": {}}
STAT = {"colorMode": "value", "graphMode": "none", "justifyMode": "auto", "orientation": "auto",
        "percentChangeColorMode": "standard", "showPercentChange": False, "textMode": "auto",
        "wideLayout": True, "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}

panels = [
    row(1, "Episodes", 0),
    panel(2, "timeseries", "Episodes per motif",
          "Episodes closed per minute, by motif (dsfb_episodes_total).",
          (0, 1, 12, 8),
          [(f"sum by (motif) (rate(dsfb_episodes_total{{{SEL}}}[{RATE}])) * 60", "{{motif}}")],
          unit="short", options=TS),
    panel(3, "timeseries", "Open episodes",
          "Episodes open now, by motif (dsfb_episodes_open).",
          (12, 1, 12, 8),
          [(f"sum by (motif) (dsfb_episodes_open{{{SEL}}})", "{{motif}}")],
          unit="short", options=TS),
    panel(4, "heatmap", "Episode duration",
          "Closed episodes per duration bucket (dsfb_episode_duration_seconds).",
          (0, 9, 8, 8),
          [(f"sum by (le) (increase(dsfb_episode_duration_seconds_bucket{{{SEL}}}[{RATE}]))", "{{le}}", "heatmap")],
          unit="s", options=HEATMAP),
    panel(5, "heatmap", "Episode peak",
          "Closed episodes per |peak| bucket (dsfb_episode_peak).",
          (8, 9, 8, 8),
          [(f"sum by (le) (increase(dsfb_episode_peak_bucket{{{SEL}}}[{RATE}]))", "{{le}}", "heatmap")],
          options=HEATMAP),
    panel(6, "timeseries", "Peak and duration quantiles",
          "p50 / p90 / p99 of closed episodes' peak and duration (seconds), all motifs.",
          (16, 9, 8, 8),
          [(e, "peak " + l) for e, l in quantiles("dsfb_episode_peak", "")]
          + [(e, "duration " + l) for e, l in quantiles("dsfb_episode_duration_seconds", "")],
          options=TS),
    panel(7, "timeseries", "Trust sum at the last close",
          "Σ of a motif's normalised trust weights at its last episode boundary "
          "(dsfb_episode_trust_sum_last). It must stay in [0.99, 1.01] (red outside): "
          "leaving it is an observer bug (alert MotifdTrustSumOutOfRange).",
          (0, 17, 12, 8),
          [(f"dsfb_episode_trust_sum_last{{{SEL}}}", "{{motif}}")],
          extra={"min": 0.98, "max": 1.02, "decimals": 4,
                 "custom": {"thresholdsStyle": {"mode": "line+area"}},
                 "thresholds": {"mode": "absolute", "steps": [
                     {"color": "red", "value": None},
                     {"color": "green", "value": 0.99},
                     {"color": "red", "value": 1.01}]}},
          options=TS),
    panel(8, "timeseries", "Last peak per motif",
          "|peak| of each motif's most recent episode (dsfb_episode_peak_last).",
          (12, 17, 12, 8),
          [(f"dsfb_episode_peak_last{{{SEL}}}", "{{motif}}")],
          options=TS),
    row(9, "Input and reorder window", 25),
    panel(10, "timeseries", "Ingest rate",
          "Samples received, released to the engine, and rejected (by reason), per second.",
          (0, 26, 12, 8),
          [(f"sum(rate(dsfb_samples_received_total{{{SEL}}}[{RATE}]))", "received"),
           (f"sum(rate(dsfb_streaming_residuals_flushed_total{{{SEL}}}[{RATE}]))", "flushed"),
           (f"sum by (reason) (rate(dsfb_samples_rejected_total{{{SEL}}}[{RATE}]))", "rejected {{reason}}")],
          unit="ops", options=TS),
    panel(11, "timeseries", "Channel depth and staged samples",
          "Batches waiting between producers and the engine (dsfb_ingest_channel_depth; "
          "near channel_capacity the engine cannot keep up) and samples staged in the "
          "reorder buffer (right axis).",
          (12, 26, 12, 8),
          [(f"dsfb_ingest_channel_depth{{{SEL}}}", "channel depth (batches)"),
           (f"dsfb_streaming_residuals_staged{{{SEL}}}", "staged samples")],
          options=TS),
    panel(12, "timeseries", "Lateness",
          "How far behind the newest event time samples arrive (p50/p90/p99), and the "
          "window in use (newest − watermark). Samples later than the window are dropped.",
          (0, 34, 8, 8),
          quantiles("dsfb_streaming_lateness_seconds", "")
          + [(f"dsfb_streaming_newest_event_seconds{{{SEL}}} - dsfb_streaming_watermark_seconds{{{SEL}}}",
              "window in use")],
          unit="s", options=TS),
    panel(13, "timeseries", "Out-of-window drops",
          "Samples dropped behind the reorder frontier per second, and those a window twice "
          "as long would have kept (alert MotifdSamplesDroppedOutOfWindow).",
          (8, 34, 8, 8),
          [(f"sum(rate(dsfb_streaming_residuals_dropped_out_of_window_total{{{SEL}}}[{RATE}]))", "dropped"),
           (f"sum(rate(dsfb_streaming_dropped_recoverable_with_double_window_total{{{SEL}}}[{RATE}]))",
            "recoverable with 2× window")],
          unit="ops", options=TS),
    panel(14, "timeseries", "Ingest-to-flush latency",
          "Wall time from accepting a sample to its release from the reorder buffer.",
          (16, 34, 8, 8),
          quantiles("dsfb_ingest_to_flush_latency_seconds", ""),
          unit="s", options=TS),
    panel(15, "timeseries", "Channels",
          "(motif, channel) states tracked, and evictions and cap refusals per second.",
          (0, 42, 12, 8),
          [(f"dsfb_channels_tracked{{{SEL}}}", "tracked"),
           (f"rate(dsfb_channels_evicted_total{{{SEL}}}[{RATE}])", "evicted/s"),
           (f"rate(dsfb_channels_refused_total{{{SEL}}}[{RATE}])", "refused/s")],
          options=TS),
    panel(16, "timeseries", "Sink errors",
          "Failed writes of the episode log, textfile and checkpoint, and refused TCP "
          "producers, per second (each has an alert).",
          (12, 42, 12, 8),
          [(f"rate(dsfb_episode_log_write_errors_total{{{SEL}}}[{RATE}])", "episode log"),
           (f"rate(dsfb_textfile_write_errors_total{{{SEL}}}[{RATE}])", "textfile"),
           (f"rate(dsfb_checkpoint_write_errors_total{{{SEL}}}[{RATE}])", "checkpoint"),
           (f"rate(dsfb_ingest_producers_refused_total{{{SEL}}}[{RATE}])", "producers refused")],
          unit="ops", options=TS),
    row(17, "Scrape health", 50),
    panel(18, "stat", "Target up",
          "Prometheus' own up series for the motifd targets (alert MotifdScrapeFailing).",
          (0, 51, 4, 6),
          [(f"up{{{SEL}}}", "{{instance}}")],
          extra={"mappings": [{"type": "value", "options": {
              "0": {"text": "down", "color": "red"}, "1": {"text": "up", "color": "green"}}}]},
          options={**STAT, "colorMode": "background"}),
    panel(19, "timeseries", "Scrape duration",
          "Prometheus' scrape_duration_seconds and motifd's own render time (p99).",
          (4, 51, 10, 6),
          [(f"scrape_duration_seconds{{{SEL}}}", "scrape {{instance}}"),
           (f"histogram_quantile(0.99, sum by (le) (rate(dsfb_scrape_render_duration_seconds_bucket{{{SEL}}}[{RATE}])))",
            "render p99")],
          unit="s", options=TS),
    panel(20, "timeseries", "Scrape connections",
          "Open scrape connections and those the server refused or closed, by reason "
          "(alert MotifdScrapeConnectionsDropped).",
          (14, 51, 10, 6),
          [(f"dsfb_scrape_connections_open{{{SEL}}}", "open"),
           (f"sum by (reason) (rate(dsfb_scrape_connections_closed_total{{{SEL}}}[{RATE}]))", "closed {{reason}}/s")],
          options=TS),
    panel(21, "timeseries", "Process",
          "Resident memory and CPU of the motifd process.",
          (0, 57, 12, 6),
          [(f"process_resident_memory_bytes{{{SEL}}}", "RSS"),
           (f"rate(process_cpu_seconds_total{{{SEL}}}[{RATE}])", "CPU (cores)")],
          options=TS),
    panel(22, "stat", "Checkpoint age",
          "Seconds since the last checkpoint (alert MotifdCheckpointStale); empty without "
          "checkpoints.",
          (12, 57, 6, 6),
          [(f"time() - dsfb_checkpoint_last_success_timestamp_seconds{{{SEL}}}", "{{instance}}")],
          unit="s",
          options=STAT),
    panel(23, "table", "Build",
          "dsfb_build_info of each instance.",
          (18, 57, 6, 6),
          [(f"dsfb_build_info{{{SEL}}}", "{{version}}", "table")],
          options={"showHeader": True, "frameIndex": 0}),
]


def variable(name, label, query):
    return {
        "name": name, "label": label, "type": "query", "datasource": DS,
        "query": {"query": query, "refId": f"{name}-variable"},
        "refresh": 2, "includeAll": True, "multi": True,
        "allValue": ".+", "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [], "sort": 1, "hide": 0,
    }


dashboard = {
    "title": "motifd",
    "uid": "motifd",
    "description": "Streaming episode detection (motifd): episodes, trust, input, reorder window, scrape health.",
    "tags": ["motifd", "dsfb"],
    "editable": True,
    "graphTooltip": 1,
    "schemaVersion": 39,
    "version": 1,
    "refresh": "30s",
    "time": {"from": "now-6h", "to": "now"},
    "timepicker": {},
    "timezone": "utc",
    "fiscalYearStartMonth": 0,
    "liveNow": False,
    "links": [],
    "annotations": {"list": []},
    "templating": {"list": [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
         "hide": 0, "includeAll": False, "multi": False, "options": [],
         "refresh": 1, "regex": ""},
        variable("job", "Job", "label_values(dsfb_build_info, job)"),
        variable("instance", "Instance", 'label_values(dsfb_build_info{job=~"$job"}, instance)'),
    ]},
    "panels": panels,
}

out = pathlib.Path(__file__).resolve().parent.parent / "docs" / "grafana" / "motifd.json"
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n")
print(f"wrote {out}")
