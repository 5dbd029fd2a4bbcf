"""The simulator: the physics of docs/environment.md, each rule once (see docs/extending.md,
"How the simulator is built")."""
