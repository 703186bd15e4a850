"""The report's HTML: fills ``template.html`` with tables, players and the page's data.

Static parts (header, mixer, lanes, score and settings tables) are rendered here so the page
reads without JavaScript; ``report.js`` adds the shared transport and draws the timelines from
the JSON data block. CSS, JavaScript and data are inlined: the page needs no other file than its
audio. Every text from the result is escaped, and ``://`` in text is written as ``&#58;//`` so
the page holds no network address at all (it still reads the same in a browser).
"""
from __future__ import annotations

import html
import json
import math
import numbers
import re
from dataclasses import dataclass
from importlib import resources
from typing import Mapping

from .. import __version__


@dataclass
class TrackView:
    """One player: an ``<audio>`` element driven by the page's transport.

    track_id: the element's ``data-track``. kind: "mix", "stem", "synth" or "remix".
    class_index: index of its class in the page, or None. src: path relative to the page.
    muted: muted when the page opens. link: a full-quality file next to the page, if any.
    """

    track_id: str
    label: str
    kind: str
    class_index: int | None
    src: str
    muted: bool = True
    link: str | None = None


@dataclass
class ClassView:
    """What the page shows of one instrument class.

    notes, reference: ``[row, start_s, end_s, velocity]`` (row: MIDI pitch, or drum-class index).
    n_notes: notes in the result; truncated: only the loudest of them are in ``notes``.
    """

    index: int
    name: str
    color: str
    is_drum: bool
    program: str
    notes: list[list[float]]
    n_notes: int
    reference: list[list[float]] | None
    activity: dict | None
    peak_db: float | None
    detected: bool
    has_stem: bool
    truncated: bool = False
    stem_track: TrackView | None = None
    synth_track: TrackView | None = None


@dataclass
class PageContext:
    """Everything ``render_page`` needs; durations in seconds, sample rate in Hz."""

    title: str
    model_name: str
    settings: dict
    duration: float
    sample_rate: int
    classes: list[ClassView]
    tracks: list[TrackView]
    scores: Mapping[str, Mapping[str, float]] | None
    drum_rows: list[str]
    synth_note: str = ""
    has_reference: bool = False


SILENT_TEXT = "not detected / silent"


def esc(value: object) -> str:
    """HTML-escaped text with ``://`` written as a character reference (see module docstring)."""
    return html.escape(str(value)).replace("://", "&#58;//")


def _json_for_script(data: object) -> str:
    """JSON safe inside ``<script>``: no ``</``, no ``<!--``, and no ``://``.

    ``<`` and ``:/`` occur only inside JSON strings (compact separators), where the ``\\u``
    escapes decode to the same characters.
    """
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(":/", "\\u003a/")


def _resource(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def format_time(seconds: float) -> str:
    """``m:ss`` of a duration in seconds."""
    s = int(round(seconds))
    return f"{s // 60}:{s % 60:02d}"


def _format_score(value: object) -> str:
    """A score cell: 3 decimals below 10 (F1, ratios), 1 above (dB); a dash when undefined."""
    if value is None or (isinstance(value, numbers.Real) and not math.isfinite(float(value))):
        return "–"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return esc(value)
    v = float(value)
    return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"


def _buttons(track: TrackView) -> str:
    t = esc(track.track_id)
    return (f'<button type="button" class="solo" data-solo="{t}" aria-pressed="false" '
            f'title="Solo: hear only soloed tracks">S</button>'
            f'<button type="button" class="mute" data-mute="{t}" aria-pressed="{str(track.muted).lower()}" '
            f'title="Mute">M</button>'
            f'<input type="range" class="gain" data-gain="{t}" min="0" max="1" step="0.01" value="1" '
            f'aria-label="Level of {esc(track.label)}">')


def _audio(track: TrackView) -> str:
    return (f'<audio data-track="{esc(track.track_id)}" data-muted="{int(track.muted)}" '
            f'preload="auto" src="{esc(track.src)}"></audio>')


def _track_row(track: TrackView, label: str, info: str, color: str | None) -> str:
    swatch = f'<span class="swatch" style="background:{color}"></span>' if color else ""
    link = f' · <a href="{esc(track.link)}">{esc(track.link)}</a>' if track.link else ""
    return (f'<tr class="track {esc(track.kind)}" data-row="{esc(track.track_id)}">'
            f'<th scope="row">{swatch}{label}</th><td class="ctl">{_buttons(track)}{_audio(track)}</td>'
            f'<td class="info">{info}{link}</td></tr>')


def _mixer(ctx: PageContext) -> str:
    rows = []
    by_id = {t.track_id: t for t in ctx.tracks}
    rows.append(_track_row(by_id["mix"], esc(by_id["mix"].label), "the input", None))
    for c in ctx.classes:
        name = esc(c.name)
        if not c.detected:
            why = "no stem in the result" if not c.has_stem else "no notes, stem below the silence level"
            rows.append(f'<tr class="track silent-row"><th scope="row"><span class="swatch" '
                        f'style="background:{c.color}"></span>{name}</th>'
                        f'<td class="ctl silent" colspan="2">{SILENT_TEXT} <span class="why">({why})</span>'
                        f'</td></tr>')
            continue
        if c.stem_track is not None:
            peak = f"peak {c.peak_db:.1f} dBFS" if c.peak_db is not None else ""
            rows.append(_track_row(c.stem_track, f"{name} <small>stem</small>", peak, c.color))
        else:
            rows.append(f'<tr class="track"><th scope="row"><span class="swatch" style="background:{c.color}">'
                        f'</span>{name} <small>stem</small></th><td class="ctl silent" colspan="2">'
                        f'{"silent stem" if c.has_stem else "no stem in the result"}</td></tr>')
        if c.synth_track is not None:
            rows.append(_track_row(c.synth_track, f"{name} <small>transcription</small>",
                                   f"{c.n_notes} notes · {esc(c.program)}", c.color))
        else:
            why = "no notes transcribed" if not c.n_notes else "not re-synthesised"
            rows.append(f'<tr class="track"><th scope="row"><span class="swatch" style="background:{c.color}">'
                        f'</span>{name} <small>transcription</small></th><td class="ctl silent" colspan="2">'
                        f'{why}</td></tr>')
    if "remix" in by_id:
        rows.append(_track_row(by_id["remix"], esc(by_id["remix"].label), "all transcriptions together", None))
    note = f'<p class="note">{esc(ctx.synth_note)}</p>' if ctx.synth_note else ""
    return f'<table class="mixer">{"".join(rows)}</table>{note}'


def _lane(c: ClassView, has_reference: bool) -> str:
    listen = []
    for t, what in ((c.stem_track, "stem"), (c.synth_track, "transcription")):
        if t is not None:
            listen.append(f'<button type="button" class="solo small" data-solo="{esc(t.track_id)}" '
                          f'aria-pressed="false" title="Solo the {what}">solo {what}</button>')
    facts = [f"{c.n_notes} notes ({len(c.notes)} loudest drawn)" if c.truncated else f"{c.n_notes} notes"]
    if c.reference is not None:
        facts.append(f"{len(c.reference)} reference notes")
    if c.activity is not None:
        facts.append(f'active {sum(b - a for a, b in c.activity["segments"]):.1f} s')
    head = (f'<div class="lane-head"><span class="swatch" style="background:{c.color}"></span>'
            f'<h3>{esc(c.name)}</h3><span class="facts">{esc(" · ".join(facts))}</span>'
            f'{"".join(listen)}<span class="hover" data-hover="{c.index}"></span></div>')
    body = []
    if not c.detected:
        body.append(f'<p class="silent">{SILENT_TEXT}</p>')
    if c.activity is not None and c.detected:
        body.append(f'<canvas class="act" data-class="{c.index}" aria-label="activity of {esc(c.name)}"></canvas>')
    if c.notes or (has_reference and c.reference):
        body.append(f'<canvas class="roll" data-class="{c.index}" aria-label="piano roll of {esc(c.name)}"></canvas>')
    elif c.detected:
        body.append('<p class="silent">no notes transcribed</p>')
    return (f'<section class="lane{"" if c.detected else " not-detected"}" data-class="{c.index}" '
            f'style="--c:{c.color}">{head}{"".join(body)}</section>')


def _scores(scores: Mapping[str, Mapping[str, float]] | None, order: list[str]) -> str:
    if not scores:
        return ""
    names = [c for c in order if c in scores] + [c for c in scores if c not in order and c != "overall"]
    if "overall" in scores:
        names.append("overall")
    metrics: list[str] = []
    for c in names:
        metrics += [m for m in scores[c] if m not in metrics]
    head = "".join(f"<th scope='col'>{esc(m)}</th>" for m in metrics)
    rows = "".join(
        f"<tr{' class=overall' if c == 'overall' else ''}><th scope='row'>{esc(c)}</th>"
        + "".join(f"<td>{_format_score(scores[c].get(m))}</td>" for m in metrics) + "</tr>" for c in names)
    return (f'<section class="card" id="scores"><h2>Scores against the reference</h2>'
            f'<table class="scores"><thead><tr><th></th>{head}</tr></thead><tbody>{rows}</tbody></table></section>')


def _settings(ctx: PageContext) -> str:
    rows = [(k, v) for k, v in (("model", ctx.model_name or "–"), ("input sample rate", f"{ctx.sample_rate} Hz"),
                                ("duration", f"{ctx.duration:.2f} s"), ("stemscribe", __version__))
            if k not in ctx.settings]
    for k, v in ctx.settings.items():
        rows.append((str(k), v if isinstance(v, str) else json.dumps(v, default=str)))
    body = "".join(f"<tr><th scope='row'>{esc(k)}</th><td><code>{esc(v)}</code></td></tr>" for k, v in rows)
    return f'<section class="card" id="settings"><h2>Model and settings</h2><table class="settings">{body}</table></section>'


def _page_data(ctx: PageContext) -> dict:
    return {
        "duration": ctx.duration,
        "drumRows": ctx.drum_rows,
        "classes": [{"name": c.name, "color": c.color, "drum": c.is_drum, "notes": c.notes,
                     "reference": c.reference, "activity": c.activity, "detected": c.detected}
                    for c in ctx.classes],
    }


def render_page(ctx: PageContext) -> str:
    """The complete ``report.html`` text for ``ctx``."""
    legend = ("Filled bars: transcribed notes (darker = louder)"
              + ("; outlined bars: reference notes" if ctx.has_reference else "")
              + ". Activity: shaded probability, dashed threshold, solid bar where the instrument plays.")
    values = {
        "title": esc(ctx.title),
        "model": esc(ctx.model_name or "unnamed model"),
        "duration": format_time(ctx.duration),
        "n_classes": str(len(ctx.classes)),
        "n_detected": str(sum(c.detected for c in ctx.classes)),
        "mixer": _mixer(ctx),
        "lanes": "".join(_lane(c, ctx.has_reference) for c in ctx.classes),
        "legend": esc(legend),
        "scores": _scores(ctx.scores, [c.name for c in ctx.classes]),
        "settings": _settings(ctx),
        "style": _resource("report.css"),
        "script": _resource("report.js"),
        "data": _json_for_script(_page_data(ctx)),
        "version": esc(__version__),
    }
    # One pass over the template: inserted text (CSS, JS, data) is never scanned for markers.
    return re.sub(r"\{\{(\w+)\}\}", lambda m: values[m.group(1)], _resource("template.html"))
