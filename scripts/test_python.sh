#!/usr/bin/env bash
# `make test-python PY=3.12`: the test subset (the Makefile's SUBSET) on another Python, with the newest
# Airflow minor's pins, in its own .venv-py3.N (rebuilt when pyproject.toml or the pins change).
#
# PY is a version (3.12), found as `python3.12` on PATH, else under pyenv's versions
# ($PYENV_ROOT/versions/3.12.*), or an interpreter's path. The pins are
# constraints/airflow-$NEWEST-py3.N.txt where that file exists (a Python the general file's pins do
# not install on), else constraints/airflow-$NEWEST.txt.
#
# An absent interpreter fails (exit 2); with IF_PRESENT=1 it prints why and exits 0 (.ci/run uses that,
# so a machine without that Python still passes CI, saying what it did not test).
set -euo pipefail
cd "$(dirname "$0")/.."

py=${PY:-}
newest=${NEWEST:?NEWEST (the Airflow minor whose pins to use) is set by the Makefile}
subset=${SUBSET:?SUBSET (the tests to run) is set by the Makefile}

if [[ -z $py ]]; then
    echo "usage: make test-python PY=3.12   (a Python version, or PY=/path/to/python)" >&2
    exit 2
fi

runs() { "$1" -c 'import sys' >/dev/null 2>&1; }

find_interpreter() {
    if [[ $py == */* ]]; then
        if runs "$py"; then echo "$py"; fi
        return 0
    fi
    # A pyenv shim is on PATH for every installed version but fails unless that version is selected,
    # so each candidate is run, not just looked up.
    if runs "python$py"; then
        command -v "python$py"
        return 0
    fi
    local root=${PYENV_ROOT:-$HOME/.pyenv} candidate
    for candidate in $(ls -d "$root/versions/$py" "$root/versions/$py".* 2>/dev/null | sort -rV); do
        if runs "$candidate/bin/python"; then
            echo "$candidate/bin/python"
            return 0
        fi
    done
}

interpreter=$(find_interpreter)
if [[ -z $interpreter ]]; then
    if [[ $py == */* ]]; then
        message="no Python runs at $py"
    else
        message="Python $py not found (neither python$py on PATH nor ${PYENV_ROOT:-$HOME/.pyenv}/versions/$py.*)"
    fi
    if [[ ${IF_PRESENT:-} == 1 ]]; then
        echo "SKIPPED the test subset on Python $py: $message"
        exit 0
    fi
    echo "error: $message; install it or pass PY=/path/to/python" >&2
    exit 2
fi

version=$("$interpreter" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [[ $py != */* && $py != "$version" && $py != "$version".* ]]; then
    echo "error: $interpreter is Python $version, not $py" >&2
    exit 2
fi

venv=.venv-py$version
constraints=constraints/airflow-$newest-py$version.txt
[[ -f $constraints ]] || constraints=constraints/airflow-$newest.txt
stamp=$venv/.installed
wanted="$("$interpreter" -c 'import sys; print(sys.version.split()[0])') $interpreter $constraints"

if [[ ! -f $stamp || $(cat "$stamp") != "$wanted" || pyproject.toml -nt $stamp || $constraints -nt $stamp ]]; then
    echo "Building $venv with $interpreter (Python $version) from $constraints"
    rm -rf "$venv"
    "$interpreter" -m venv "$venv"
    "$venv/bin/pip" install --quiet --upgrade "pip>=24"
    "$venv/bin/pip" install --quiet -c "$constraints" -e ".[dev,emulator,openlineage]"
    echo "$wanted" >"$stamp"
fi

echo "The test subset on Python $version ($interpreter), Airflow pins $constraints"
# shellcheck disable=SC2086  # SUBSET is a list of paths
exec "$venv/bin/pytest" $subset -q -p no:cacheprovider
