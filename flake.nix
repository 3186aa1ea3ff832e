# Janus development shell: `nix develop`, then
#   run-dev   the gateway with the demo data (scripts/run; PORT defaults to 8899, e.g. PORT=8080 run-dev)
#   build     the wheel into dist/
#   lint      ruff check, ruff format --check, mypy and import-linter (what the test suite checks)
#   test      the test suite (scripts/test; extra arguments go to pytest)
# The Python dependencies are installed into .venv by scripts/bootstrap-env from requirements*.txt.
{
  description = "Janus, the enterprise MCP gateway: development shell";

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.11";
    flake-utils.url = "github:numtide/flake-utils";
  };

  outputs = { self, nixpkgs, flake-utils }:
    flake-utils.lib.eachDefaultSystem (system:
      let
        pkgs = import nixpkgs { inherit system; };
        python = pkgs.python311;
        run-dev = pkgs.writeShellScriptBin "run-dev" ''
          exec ./scripts/run "$@"
        '';
        build = pkgs.writeShellScriptBin "build" ''
          set -euo pipefail
          ./scripts/bootstrap-env -r requirements-dev.txt
          exec .venv/bin/python -m pip wheel --no-deps --wheel-dir dist .
        '';
        lint = pkgs.writeShellScriptBin "lint" ''
          set -euo pipefail
          ./scripts/bootstrap-env -r requirements-dev.txt
          .venv/bin/ruff check
          .venv/bin/ruff format --check
          .venv/bin/mypy janus
          .venv/bin/lint-imports
        '';
        test = pkgs.writeShellScriptBin "test" ''
          exec ./scripts/test "$@"
        '';
      in
      {
        devShells.default = pkgs.mkShell {
          packages = [
            python
            pkgs.postgresql_16
            pkgs.nodejs_22
            pkgs.git
            run-dev
            build
            lint
            test
          ];
          shellHook = ''
            export PYTHON=${python}/bin/python3.11
            echo "Janus dev shell: run-dev, build, lint, test"
          '';
        };
      });
}
