//! Tables of cases with one test each: a row fails, and is counted, on its own.

/// `cases!(check; name: args...; ...)` writes, for every row, a `#[tokio::test] async fn name`
/// that runs `check(args...).await`: the table reads as one list, the harness still reports
/// each case by name.
macro_rules! cases {
    ($check:path; $($name:ident: $($arg:expr),+;)+) => {
        $(
            #[tokio::test]
            async fn $name() {
                $check($($arg),+).await
            }
        )+
    };
}
pub(crate) use cases;
