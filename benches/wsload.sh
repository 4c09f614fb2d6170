# Sourced by the window scripts: sets WSLOAD to the shared load generator, built into
# target/wsload from ../shared/bench/wsload (read-only in CI) unless WSLOAD is set.
if [ -z "${WSLOAD:-}" ]; then
    WSLOAD=target/wsload/target/release/wsload
    if [ ! -x "$WSLOAD" ]; then
        mkdir -p target/wsload && cp -r ../shared/bench/wsload/. target/wsload/ &&
            (cd target/wsload && cargo build --release -q) || exit 1
    fi
fi
