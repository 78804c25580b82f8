"""The golden forecasts of tests/unit/test_statistical.py, computed with Nixtla statsforecast.

statsforecast 2.1 pins pandas < 3, so it lives in a side virtualenv, not the project's:

    python3.11 -m venv /tmp/sfenv && /tmp/sfenv/bin/pip install 'statsforecast==2.1.*' 'pandas<3'
    /tmp/sfenv/bin/python scripts/statsforecast_goldens.py

It prints, per fixed series of :func:`golden_series` (also used by the test, which loads
this file; numpy only at import), the 28-day forecasts of the models that
replenishment.forecast.statistical reproduces, as Python literals to paste into the test.
Each model is called directly (``Model().forecast(y=..., h=28)``, float64).
"""

from __future__ import annotations

import numpy as np

H = 28
SEED = 20260701


def golden_series() -> dict[str, np.ndarray]:
    """Fixed daily series: two smooth weekly-seasonal ones (two years with a mild trend,
    60 days), an intermittent one and a lumpy one (400 days), from one seeded generator."""
    rng = np.random.default_rng(SEED)
    t = np.arange(730)
    weekly = np.array([0.8, 0.9, 1.0, 1.0, 1.1, 1.4, 0.8])
    smooth = rng.poisson(20.0 * (1 + 0.0004 * t) * weekly[t % 7]).astype(float)
    short = rng.poisson(8.0 * weekly[np.arange(60) % 7]).astype(float)
    occurs = rng.random(400) < 0.25
    intermittent = occurs * (1 + rng.poisson(2.0, 400)).astype(float)
    lumpy_occurs = rng.random(400) < 0.08
    lumpy = lumpy_occurs * (1 + rng.negative_binomial(0.5, 0.5 / 10.5, 400)).astype(float)
    return {"smooth": smooth, "short": short, "intermittent": intermittent, "lumpy": lumpy}


def main() -> None:
    import statsforecast
    from statsforecast.models import ADIDA, IMAPA, TSB, AutoETS, Theta

    series = golden_series()
    print(f"# statsforecast {statsforecast.__version__}, numpy {np.__version__}")
    print("GOLDEN = {")
    for name, y in series.items():
        models = (
            {"ets": AutoETS(season_length=7, model="ANA"), "theta": Theta(season_length=7)}
            if name in ("smooth", "short")
            else {"tsb": TSB(alpha_d=0.1, alpha_p=0.1), "adida": ADIDA(), "imapa": IMAPA()}
        )
        for model_name, model in models.items():
            mean = np.asarray(model.forecast(y=y, h=H)["mean"], dtype=float)
            values = [float(v) for v in mean] if np.ptp(mean) > 0 else [float(mean[0])]
            print(f"    ({name!r}, {model_name!r}): {[round(v, 12) for v in values]},")
    print("}")


if __name__ == "__main__":
    main()
