"""Write run folders that eos-explorer opens, plots and follows live.

Standard library only (Python >= 3.9); numbers from NumPy, PyTorch or JAX are accepted
(anything with ``.item()`` or ``float()``), but none of them is needed.

    from eos_run import RunWriter

    with RunWriter("runs/mlp-lr0.02", config={"program": "train.py", "dataset": "cifar10-5k",
                                              "network": "mlp 200-200"}) as run:
        for t in range(steps + 1):
            loss = ...                      # measured at theta_t, before the update of step t
            lam = top_eigs(...) if t % 20 == 0 else [None, None]
            run.log(t, train_loss=loss, lambda_1=lam[0], lambda_2=lam[1], lr=lr)
            ...                             # the update of step t

    # eos-explorer --open runs/mlp-lr0.02          (or follow it live in the Runs workspace)
    # eos-explorer plot runs/mlp-lr0.02 --out fig.svg

What the folder holds (the format is ``docs/run-format.md``, format_version 1):

- ``metrics.csv``: the header line, fixed by the first row (or by ``columns=``), then one line
  per ``log`` call, written with a single ``write`` and flushed, so a follower (the app's Runs
  workspace) never sees half a row. The file is appended in place: the reader skips a last
  line without its line end, so a process killed mid-run still leaves a folder that opens.
  Known columns come first in the format's order (``wall_s, lr, train_loss, train_acc,
  test_loss, test_acc, lambda_1 ... lambda_k, hvps, lanczos_residual, grad_norm, threshold``),
  then your own columns in the order you first gave them.
- ``config.json``: ``{"format_version": 1, "info": {...}}``. ``config`` is the run's ``info``
  (``program, version, network, parameters, dataset, dataset_notes, train_samples,
  test_samples, threads``): the app labels the run "dataset · network · eta". The ``config``
  key of the file is the app's own RunConfig (so that it can rerun a run); a script cannot
  fill it and this writer never writes it. Keep other settings in a JSON file of your own
  with :meth:`RunWriter.write_json` (the reader keeps every ``*.json`` by name).
- ``summary.json``: written last, by :meth:`RunWriter.close` (or leaving the ``with`` block);
  its presence tells followers the run ended.
- ``.eos-run.lock``: the writer's process id while it writes (one writer per folder, as for
  ``eos-explorer run``); removed by ``close``.

JSON files are written as ``NAME.partial``, flushed, fsynced and renamed, so no file under
its final name is ever half written.
"""

import json
import math
import os
import sys
import time

__all__ = ["RunWriter", "KNOWN_COLUMNS", "INFO_FIELDS", "OUTCOMES"]

FORMAT_VERSION = 1
METRICS_FILE = "metrics.csv"
CONFIG_FILE = "config.json"
SUMMARY_FILE = "summary.json"
LOCK_FILE = ".eos-run.lock"
PARTIAL_SUFFIX = ".partial"

#: Known columns of ``metrics.csv`` in the order eos-explorer writes them (``lambda_i`` go
#: where ``lambda_*`` is, by i).
KNOWN_COLUMNS = (
    "step", "wall_s", "lr", "train_loss", "train_acc", "test_loss", "test_acc", "lambda_*",
    "hvps", "lanczos_residual", "grad_norm", "threshold",
)
#: Columns written as integers (the format's integer columns).
INTEGER_COLUMNS = frozenset(("step", "t", "anchor", "hvps", "first_step", "k"))
#: The fields of config.json's ``info`` and their types (the reader's RunInfo).
INFO_FIELDS = {
    "program": str, "version": str, "network": str, "parameters": int, "dataset": str,
    "dataset_notes": list, "train_samples": int, "test_samples": int, "threads": int,
}
#: ``outcome.kind`` values of summary.json.
OUTCOMES = ("max-steps", "accuracy-goal", "loss-goal", "diverged", "stopped")
#: Fields of summary.json besides ``outcome`` and ``message`` (the reader's RunSummary).
SUMMARY_FIELDS = {
    "steps": int, "compute_seconds": float, "gradients": int, "hvps": int,
    "final_train_loss": float, "final_train_acc": float, "last_lambda_1": float,
}
_RESERVED_JSON = (CONFIG_FILE, SUMMARY_FILE, "overlay.json")
_EXACT_INT = 2 ** 53
_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no line-end translation


def _lambda_index(name):
    """i for ``lambda_i`` (i >= 1, no leading zeros), else None."""
    if name.startswith("lambda_"):
        digits = name[len("lambda_"):]
        if digits.isdigit() and digits.isascii() and str(int(digits)) == digits and int(digits) >= 1:
            return int(digits)
    return None


def _order_key(name, first_seen):
    """Known columns first, in the format's order; then the others as first given."""
    i = _lambda_index(name)
    if i is not None:
        return (0, KNOWN_COLUMNS.index("lambda_*"), i)
    if name in KNOWN_COLUMNS:
        return (0, KNOWN_COLUMNS.index(name), 0)
    return (1, first_seen, 0)


def _check_column_name(name):
    if not isinstance(name, str) or not name:
        raise ValueError(f"column names are non-empty strings, not {name!r}")
    if name != name.strip() or any(c in name for c in ',"\r\n') or name.startswith("\ufeff"):
        raise ValueError(
            f"column name {name!r} may not contain a comma, a quote or a line end, "
            "nor start or end with spaces (metrics.csv is plain CSV without quoting)")


def _number(value, column):
    """A Python int or float from an int, float, NumPy/PyTorch/JAX scalar; None stays None."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, (str, bytes)):
        raise TypeError(f"column {column}: {value!r} is not a number (a string)")
    item = getattr(value, "item", None)
    if callable(item):
        try:
            v = item()  # NumPy scalar or 0-d array, torch tensor (one element), JAX array
        except (TypeError, ValueError, RuntimeError) as e:  # e.g. a tensor of 2 elements
            raise TypeError(f"column {column}: {value!r} is not one number ({e})") from None
        if isinstance(v, (bool, int, float)):
            return int(v) if isinstance(v, bool) else v
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"column {column}: {value!r} is not a number") from None


def _cell(value, integer):
    """The text of one cell, as the Rust writer writes it."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if integer and value.is_integer() and abs(value) <= _EXACT_INT:
        return str(int(value))
    return repr(value)  # the shortest text that reads back to the same float


def _pid_alive(pid):
    if sys.platform.startswith("linux"):
        return os.path.exists(f"/proc/{pid}")
    if os.name == "posix":
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return True  # elsewhere, as in eos-explorer: assumed alive


def _fsync_dir(path):
    if os.name != "posix":
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _finite_or_none(x):
    return x if x is None or math.isfinite(x) else None


class RunWriter:
    """A run folder being written: :meth:`log` appends rows, :meth:`close` ends the run.

    ``path``: the folder (created with its parents). A folder that already holds files is
    refused unless ``overwrite=True``, which first clears it -- and only if everything in it
    is a run folder's file (``*.csv``, ``*.json``, ``*.npz``, ``*.partial``, ``overlays/``),
    as ``eos-explorer run --out DIR --overwrite`` does. A folder another live process writes
    (its ``.eos-run.lock``) is refused with that process's id.

    ``config``: facts shown by the app, written as config.json's ``info``; keys among
    ``INFO_FIELDS`` (``program`` defaults to the script's file name).

    ``columns``: the header, declared up front (``step`` is added). Without it the header is
    the columns of the first :meth:`log` call. Either way it is fixed: a later row may leave
    columns out (empty cells) but may not add new ones. Declare a column measured only from
    step k on (``test_loss``, ``lambda_1``) here, or log it as ``None`` in the first row.
    """

    def __init__(self, path, config=None, overwrite=False, columns=None):
        self.path = os.fspath(path)
        self._start = time.monotonic()
        self._header = None
        self._fd = None
        self._closed = False
        self._last_step = None
        self._rows = 0
        self._last = {}  # column -> last non-empty value
        self._hvps = 0
        self._lock = None
        info = self._check_info(config)
        os.makedirs(self.path, exist_ok=True)
        self._take_lock()
        try:
            self._prepare(overwrite)
            self._write_json_file(CONFIG_FILE, {"format_version": FORMAT_VERSION, "info": info})
            if columns is not None:
                self._set_header(["step"] + [c for c in columns if c != "step"])
        except BaseException:
            self._release_lock()
            raise

    # -- the folder ---------------------------------------------------------------------

    @staticmethod
    def _check_info(config):
        info = {}
        if config is not None:
            if not isinstance(config, dict):
                raise TypeError(f"config is a dict of info fields ({', '.join(INFO_FIELDS)})")
            for key, value in config.items():
                kind = INFO_FIELDS.get(key)
                if kind is None:
                    raise ValueError(
                        f"config key {key!r} is not an info field of the run-folder format "
                        f"({', '.join(INFO_FIELDS)}); log values that change as columns and "
                        "keep other settings with RunWriter.write_json('NAME.json', ...)")
                if kind is int:
                    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
                elif kind is list:
                    ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
                    value = list(value) if ok else value
                else:
                    ok = isinstance(value, str)
                if not ok:
                    want = {int: "an integer >= 0", list: "a list of strings", str: "a string"}
                    raise TypeError(f"config[{key!r}] must be {want[kind]}, not {value!r}")
                info[key] = value
        if "program" not in info:
            script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
            info["program"] = script if script and script not in ("-c", "-") else "python"
        return info

    def _take_lock(self):
        lock = os.path.join(self.path, LOCK_FILE)
        for _ in range(3):
            try:
                fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY, 0o644)
            except FileExistsError:
                try:
                    with open(lock, encoding="utf-8") as f:
                        pid = int(f.read().strip())
                except (OSError, ValueError):
                    pid = None
                if pid is not None and (pid == os.getpid() or _pid_alive(pid)):
                    raise RuntimeError(
                        f"{self.path} is in use by another run (process {pid}); wait for it "
                        "to finish, or choose another folder") from None
                try:  # stale (a dead process) or unreadable: take it over
                    os.remove(lock)
                except FileNotFoundError:
                    pass
                continue
            try:
                os.write(fd, f"{os.getpid()}\n".encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            self._lock = lock
            return
        raise RuntimeError(f"{lock}: the lock changed hands repeatedly; try again")

    def _release_lock(self):
        if self._lock is not None:
            try:
                os.remove(self._lock)
            except FileNotFoundError:
                pass
            self._lock = None

    def _prepare(self, overwrite):
        found = sorted(n for n in os.listdir(self.path) if n != LOCK_FILE)
        if not found:
            return
        if not overwrite:
            raise FileExistsError(
                f"{self.path} already holds {len(found)} file(s) of an earlier run: choose "
                "another folder, or pass overwrite=True to clear it first")
        run_like = all(n == "overlays" or n.endswith((".csv", ".json", ".npz", PARTIAL_SUFFIX))
                       for n in found)
        if not run_like:
            raise FileExistsError(
                f"{self.path} holds files that are not a run's (only *.csv, *.json, *.npz, "
                "*.partial and overlays/ are cleared by overwrite=True): choose an empty or new "
                "folder")
        import shutil
        for n in found:
            p = os.path.join(self.path, n)
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            else:
                os.remove(p)

    def _write_json_file(self, name, value):
        """Write NAME.partial, flush, fsync, rename to NAME, fsync the folder."""
        text = json.dumps(value, indent=2, allow_nan=False, ensure_ascii=False) + "\n"
        final = os.path.join(self.path, name)
        partial = final + PARTIAL_SUFFIX
        try:
            with open(partial, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(partial, final)
        except BaseException:
            try:
                os.remove(partial)
            except OSError:
                pass
            raise
        _fsync_dir(self.path)

    def write_json(self, name, value):
        """Write a JSON file of your own (settings, notes) into the folder, atomically.

        ``name`` is a plain file name ending in ``.json`` other than the format's own
        (config.json, summary.json, overlay.json); the reader keeps it by name. Non-finite
        floats are refused (JSON has none).
        """
        self._check_open()
        if (not isinstance(name, str) or not name.endswith(".json") or name.startswith(".")
                or os.path.basename(name) != name or name in _RESERVED_JSON):
            raise ValueError(
                f"{name!r}: give a plain file name ending in .json, other than "
                f"{', '.join(_RESERVED_JSON)}")
        self._write_json_file(name, value)

    # -- rows -----------------------------------------------------------------------------

    def _set_header(self, names):
        seen = set()
        for n in names:
            _check_column_name(n)
            if n in seen:
                raise ValueError(f"the column {n!r} appears twice")
            seen.add(n)
        first_seen = {n: i for i, n in enumerate(names)}
        header = sorted(names, key=lambda n: _order_key(n, first_seen[n]))
        path = os.path.join(self.path, METRICS_FILE)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | _BINARY,
                     0o644)
        self._fd = fd
        self._header = header
        self._integer = [n in INTEGER_COLUMNS for n in header]
        self._write_line(",".join(header))

    def _write_line(self, text):
        data = (text + "\n").encode("utf-8")
        while data:  # one write per line in practice; a short write is completed
            n = os.write(self._fd, data)
            data = data[n:]

    def _check_open(self):
        if self._closed:
            raise RuntimeError(f"the run {self.path} is closed")

    @property
    def header(self):
        """The columns of metrics.csv (None before the first row without ``columns=``)."""
        return None if self._header is None else list(self._header)

    def log(self, step, **values):
        """Append the row of ``step``: measured at theta_step, before the update of that step.

        ``step`` is a whole number >= 0, larger than the previous row's. Values are numbers
        (Python, NumPy, PyTorch, JAX scalars), ``None`` for "not measured" (an empty cell),
        or nan/inf. Floats are written with ``repr`` (they read back bit-identical), integers
        as integers.
        """
        self._check_open()
        s = _number(step, "step")
        if s is None or (isinstance(s, float) and not (math.isfinite(s) and s.is_integer())):
            raise ValueError(f"step must be a finite whole number, not {step!r}")
        s = int(s)
        if s < 0 or s >= _EXACT_INT:
            raise ValueError(f"step must be >= 0 and < 2**53, not {s}")
        if self._last_step is not None and s <= self._last_step:
            raise ValueError(
                f"step {s} does not follow the previous row's ({self._last_step}); steps "
                "increase from row to row")
        row = {k: _number(v, k) for k, v in values.items()}
        if self._header is None:
            self._set_header(["step"] + list(row))
        else:
            new = [k for k in row if k not in self._header]
            if new:
                raise ValueError(
                    f"column(s) {', '.join(new)} not in the header of {METRICS_FILE} "
                    f"({','.join(self._header)}), which the first row fixed: declare every "
                    "column up front with RunWriter(..., columns=[...]) or log it as None in "
                    "the first row")
        row["step"] = s
        cells = [_cell(row.get(n), i) for n, i in zip(self._header, self._integer)]
        self._write_line(",".join(cells))
        self._last_step = s
        self._rows += 1
        for k, v in row.items():
            if v is not None:
                self._last[k] = v
        h = row.get("hvps")
        if h is not None and math.isfinite(h):
            self._hvps += int(h)

    # -- the end ----------------------------------------------------------------------------

    def close(self, outcome=None, message=None, **summary):
        """End the run: close metrics.csv, write summary.json (last), release the lock.

        ``outcome``: one of ``OUTCOMES`` or a dict ``{"kind": ..., ...}``; by default
        ``max-steps``, or ``diverged`` when the last train_loss is not finite. ``message``:
        how it ended, in words. ``summary``: fields of summary.json to set yourself
        (``gradients``, ``hvps``, ``compute_seconds``, ...; see ``SUMMARY_FIELDS``); the others
        come from the rows. Closing twice does nothing.
        """
        if self._closed:
            return
        for key in summary:
            if key not in SUMMARY_FIELDS:
                raise ValueError(
                    f"{key!r} is not a field of summary.json ({', '.join(SUMMARY_FIELDS)})")
        last = self._last_step if self._last_step is not None else 0
        loss = self._last.get("train_loss")
        wall = _finite_or_none(self._last.get("wall_s"))
        if outcome is None:
            if loss is not None and not math.isfinite(loss):
                outcome = {"kind": "diverged", "step": last, "reason": "train loss is not finite"}
            else:
                outcome = {"kind": "max-steps", "steps": last}
        elif isinstance(outcome, str):
            outcome = {"kind": outcome, **({"steps": last} if outcome == "max-steps"
                                           else {"step": last})}
        if not isinstance(outcome, dict) or outcome.get("kind") not in OUTCOMES:
            raise ValueError(f"outcome is one of {', '.join(OUTCOMES)} (or a dict with that kind)")
        if message is None:
            k = outcome["kind"]
            message = {
                "max-steps": f"finished {last} steps",
                "stopped": f"stopped at step {last}",
                "diverged": f"diverged at step {last}: {outcome.get('reason', '')}".rstrip(": "),
            }.get(k, f"{k} at step {last}")
        out = {
            "outcome": outcome,
            "message": message,
            "steps": last,
            # The script's own clock (the last wall_s) if it kept one, else time since opening.
            "compute_seconds": wall if wall is not None else time.monotonic() - self._start,
            "hvps": self._hvps,
            "final_train_loss": _finite_or_none(loss),
            "final_train_acc": _finite_or_none(self._last.get("train_acc")),
            "last_lambda_1": _finite_or_none(self._last.get("lambda_1")),
        }
        for key, value in summary.items():
            v = _number(value, key)
            if v is not None and SUMMARY_FIELDS[key] is float:
                v = _finite_or_none(float(v))  # JSON has no nan/inf: left out
            elif v is not None:
                if not math.isfinite(v) or v < 0:
                    raise ValueError(f"summary field {key} is a count >= 0, not {value!r}")
                v = int(v)
            out[key] = v
        out = {k: v for k, v in out.items() if v is not None}
        if self._header is None:  # no row at all: still a folder that opens (no rows)
            self._set_header(["step"])
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None
        self._closed = True
        try:
            self._write_json_file(SUMMARY_FILE, out)
        finally:
            self._release_lock()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._closed:
            return False
        last = self._last_step if self._last_step is not None else 0
        if exc_type is None:
            self.close()
        elif issubclass(exc_type, KeyboardInterrupt):
            self.close("stopped", f"stopped by the user at step {last}")
        else:
            # The rows written are complete: say how the run ended, then let the error go on.
            self.close("stopped", f"stopped at step {last} by {exc_type.__name__}: {exc}")
        return False
