"""``python -m replenishment.demo``: the demo-warehouse command line."""

from replenishment.demo.generate import main

raise SystemExit(main())
