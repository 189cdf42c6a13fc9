//! The pure parts of the ScyllaDB store: day buckets, TTLs, client-side filters, and the
//! newest-first walk over an endpoint's day partitions. No I/O here: the walk reads through a
//! [`DaySource`], which the store implements with CQL and the tests with vectors.
//!
//! # The walk
//!
//! An endpoint's captures live in one partition per day (`captures_by_endpoint`, clustered by
//! capture id descending), and `capture_days` lists the days that have any. A page request
//! (`before`, `limit`, `filter`) is answered by:
//!
//! 1. reading days from `capture_days`, newest first, starting at the cursor's day (or at the
//!    newest day when there is no cursor), [`DAYS_PER_READ`] at a time;
//! 2. reading each day partition newest first, in pages, strictly older than the cursor;
//! 3. applying the filter to each row (client-side: CQL cannot express header, body or
//!    case-sensitive method matches on these tables without secondary indexes);
//! 4. stopping as soon as `limit + 1` rows matched (the extra one only tells that there is more),
//!    or when there is nothing left, or when the rows examined reach the budget.
//!
//! Because the day of a capture is derived from its (time-ordered) id, "newer day" implies
//! "higher id", so days newest first and ids descending within a day give exactly the order of
//! the id, and the cursor (the last id of the previous page) resumes the walk without gaps or
//! repeats.
//!
//! Listing rows carry the body's size, not the body (schema version 8; rows written before
//! still carry their body until their TTL ends). So a page without bodies reads none; a page
//! with bodies has them read by id for the rows it returns; a `body_contains` filter needs the
//! body of every row it examines, and the source reads those by id as it pages. A body read
//! with an old row is dropped at once when the page is asked `without_bodies`: a body the driver
//! decoded is a slice of the whole response it arrived in, so keeping one would keep that
//! response alive.
//!
//! The budget bounds the work of one call when a filter matches rarely. When it runs out after
//! some matches, the page holds them and `has_more` is true (the next call resumes after the last
//! one; `has_more` may then turn out to have been optimistic). When it runs out before any match,
//! the answer is an empty page with `has_more = false`: an empty page claiming more would leave
//! the caller without a cursor to resume from, and callers that loop while `has_more` would spin.

use std::collections::VecDeque;
use std::future::Future;

use bytes::Bytes;
use hookmetry_core::{CaptureId, CapturedRequest, Timestamp};

use crate::{CaptureFilter, CaptureList, CapturePage, Result, contains};

/// Whole days since 1970-01-01 UTC.
pub type Day = i32;

pub const SECONDS_PER_DAY: i64 = 86_400;
const MICROS_PER_DAY: i64 = SECONDS_PER_DAY * 1_000_000;
/// The longest TTL CQL accepts: 20 years.
pub const MAX_TTL_SECONDS: i64 = 630_720_000;
/// A capture stamped in the future (a fast ingest clock) still expires at most this long after
/// its team's retention counted from now.
const FUTURE_SLACK_SECONDS: i64 = SECONDS_PER_DAY;
/// Day markers outlive the captures they point to by this much, so a listing never loses a day
/// that still has captures.
const DAY_MARKER_SLACK_SECONDS: i64 = 2 * SECONDS_PER_DAY;

/// How many days one read of `capture_days` returns.
pub const DAYS_PER_READ: u32 = 64;
/// Page size of a filtered walk (rows are read in pages this large and filtered here).
pub const FILTERED_PAGE_SIZE: usize = 200;
/// The largest page requested at all (ScyllaDB also cuts pages at about 1 MiB of data).
pub const MAX_PAGE_SIZE: usize = 1_000;

/// The day `us` (microseconds since the epoch) falls on; clamped to the `int` range.
pub fn day_of_micros(us: i64) -> Day {
    let day = us.div_euclid(MICROS_PER_DAY);
    day.clamp(i64::from(Day::MIN), i64::from(Day::MAX)) as Day
}

/// The day partition of a capture: the day of the time embedded in its id (UUIDv7, as ingest
/// assigns), so that day order and id order agree; `received_at` only for ids without a time.
pub fn capture_day(id: CaptureId, received_at: Timestamp) -> Day {
    cursor_day(id).unwrap_or_else(|| day_of_micros(received_at.micros()))
}

/// The newest day that can hold captures older than `id`; `None` when the id carries no time
/// (then every day is searched, still only for ids below it).
pub fn cursor_day(id: CaptureId) -> Option<Day> {
    let ms = id.unix_millis()?;
    Some(day_of_micros(i64::try_from(ms).ok()?.saturating_mul(1_000)))
}

/// Seconds a capture has left under its team's retention, counted from its receipt as the
/// embedded store's retention pass counts: `received_at + retention - now`, rounded up, capped
/// at the CQL maximum (and at retention plus a day for a receipt time in the future). `None`
/// when the capture is already past its retention: it is not written at all (a TTL of 0 would
/// mean "forever" in CQL).
pub fn capture_ttl(retention_days: u32, received_at: Timestamp, now: Timestamp) -> Option<i32> {
    let retention_us = i128::from(retention_days) * i128::from(MICROS_PER_DAY);
    let left_us = i128::from(received_at.micros()) + retention_us - i128::from(now.micros());
    if left_us <= 0 {
        return None;
    }
    let left_s = (left_us + 999_999) / 1_000_000;
    let cap = (i128::from(retention_days) * i128::from(SECONDS_PER_DAY) + i128::from(FUTURE_SLACK_SECONDS))
        .min(i128::from(MAX_TTL_SECONDS));
    Some(left_s.min(cap) as i32)
}

/// TTL of a `capture_days` row written for a team with this retention: longer than any capture
/// TTL [`capture_ttl`] gives for that retention.
pub fn day_marker_ttl(retention_days: u32) -> i32 {
    let s = i64::from(retention_days) * SECONDS_PER_DAY + FUTURE_SLACK_SECONDS + DAY_MARKER_SLACK_SECONDS;
    s.min(MAX_TTL_SECONDS) as i32
}

/// A capture row as the listing table holds it: the request and its verdict, if verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCapture {
    pub capture: CapturedRequest,
    pub verdict: Option<String>,
    /// The event type and id of the stored verification result, for the event filters.
    pub event_type: Option<String>,
    pub event_id: Option<String>,
    pub body_size: u64,
    /// Whether `capture.body` is the body. Listing rows written since schema version 8 carry
    /// only its size; a listing that needs the body reads it by id (`DaySource::page` for a
    /// body filter, the store for a page returned with bodies).
    pub body_loaded: bool,
}

/// Whether a row passes every condition that is set, with the same semantics as the embedded
/// store's SQL: method exact, `received_from` inclusive, `received_until` exclusive, path prefix
/// case-sensitive, header name ASCII case-insensitive with a byte-substring value, body
/// byte-substring, verdict by name.
pub fn matches(filter: &CaptureFilter, row: &StoredCapture) -> bool {
    let c = &row.capture;
    filter.method.as_ref().is_none_or(|m| *m == c.method)
        && filter.received_from.is_none_or(|from| c.received_at >= from)
        && filter.received_until.is_none_or(|until| c.received_at < until)
        && filter.path_prefix.as_ref().is_none_or(|p| c.path.starts_with(p.as_str()))
        && filter.header.as_ref().is_none_or(|h| h.matches(&c.headers))
        && filter.body_contains.as_ref().is_none_or(|needle| contains(&c.body, needle))
        && filter.verdict.is_none_or(|v| row.verdict.as_deref() == Some(v.as_str()))
        && filter
            .event_type
            .as_ref()
            .is_none_or(|p| row.event_type.as_deref().is_some_and(|t| hookmetry_core::event_type_matches(p, t)))
        && filter.event_id.as_ref().is_none_or(|id| row.event_id.as_deref() == Some(id.as_str()))
}

/// One page of one day partition.
#[derive(Debug)]
pub struct Page<R> {
    /// Live rows, newest first.
    pub rows: Vec<StoredCapture>,
    /// Rows the server returned, including leftovers the source skipped (see `ScyllaStore`).
    pub examined: usize,
    /// Where the partition continues; `None` when it is exhausted.
    pub next: Option<R>,
}

/// What the walk reads from.
pub trait DaySource {
    /// Continues a partition read (the driver's paging state).
    type Resume: Send;

    /// Days with captures, newest first, none after `at_most`, at most `max` of them.
    fn days(&mut self, at_most: Day, max: u32) -> impl Future<Output = Result<Vec<Day>>> + Send;

    /// Up to `page_size` rows of one day, newest first, only ids below `before` if set,
    /// continuing from `resume`. May return fewer rows (even none) and still have more. Rows
    /// come with their bodies loaded when the walk's filter has `body_contains` (the source is
    /// told when it is made); otherwise with their sizes only.
    fn page(
        &mut self,
        day: Day,
        before: Option<CaptureId>,
        page_size: usize,
        resume: Option<Self::Resume>,
    ) -> impl Future<Output = Result<Page<Self::Resume>>> + Send;
}

/// A page of captures and how the walk ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    pub list: CaptureList,
    /// Rows read, counting every page request as at least one.
    pub examined: usize,
    /// The budget ran out before the walk could answer exactly.
    pub budget_exhausted: bool,
}

/// Walks `source` as the module documentation describes. `max_examined` is the budget; a page
/// of `limit` rows is always allowed to read `limit + 1` rows.
pub async fn scan<S: DaySource + Send>(source: &mut S, page: &CapturePage, max_examined: usize) -> Result<Scan> {
    let limit = page.limit as usize;
    let want = limit.saturating_add(1);
    let budget = max_examined.max(want);
    let unfiltered = page.filter.is_empty();
    let mut found: Vec<CapturedRequest> = Vec::new();
    let mut body_sizes: Vec<u64> = Vec::new();
    let mut examined = 0usize;
    let mut days: VecDeque<Day> = VecDeque::new();
    // The next read of `capture_days` starts at this day; `None` once they are all read.
    let mut next_days_from = Some(page.before.and_then(cursor_day).unwrap_or(Day::MAX));

    let done =
        |items: Vec<CapturedRequest>, body_sizes: Vec<u64>, has_more: bool, examined: usize, budget_exhausted: bool| {
            Scan { list: CaptureList { items, has_more, body_sizes }, examined, budget_exhausted }
        };

    loop {
        let day = match days.pop_front() {
            Some(day) => day,
            None => {
                let Some(from) = next_days_from else {
                    return Ok(done(found, body_sizes, false, examined, false));
                };
                // A source returning days out of range or order is ignored past that point.
                let read: Vec<Day> = source.days(from, DAYS_PER_READ).await?;
                let mut prev = i64::from(from) + 1;
                let read: Vec<Day> = read
                    .into_iter()
                    .take_while(|&d| {
                        let ok = i64::from(d) < prev;
                        prev = i64::from(d);
                        ok
                    })
                    .collect();
                next_days_from = match read.last() {
                    Some(&last) if read.len() as u32 >= DAYS_PER_READ => last.checked_sub(1),
                    _ => None,
                };
                days.extend(read);
                continue;
            }
        };
        if examined >= budget {
            let has_more = !found.is_empty();
            return Ok(done(found, body_sizes, has_more, examined, true));
        }
        let mut resume = None;
        loop {
            let size = if unfiltered { want - found.len() } else { FILTERED_PAGE_SIZE };
            let size = size.clamp(1, MAX_PAGE_SIZE).min(budget - examined).max(1);
            let read = source.page(day, page.before, size, resume.take()).await?;
            examined += read.examined.max(1);
            for row in read.rows {
                if page.before.is_some_and(|b| row.capture.id >= b) {
                    continue;
                }
                if page.filter.body_contains.is_some() && !row.body_loaded {
                    return Err(crate::StoreError::Backend(format!(
                        "listing row of capture {} came without the body its filter reads",
                        row.capture.id
                    )));
                }
                if matches(&page.filter, &row) {
                    let mut capture = row.capture;
                    body_sizes.push(row.body_size);
                    if page.without_bodies {
                        capture.body = Bytes::new();
                    }
                    found.push(capture);
                    if found.len() == want {
                        found.truncate(limit);
                        body_sizes.truncate(limit);
                        return Ok(done(found, body_sizes, true, examined, false));
                    }
                }
            }
            match read.next {
                None => break,
                Some(next) => resume = Some(next),
            }
            if examined >= budget {
                let has_more = !found.is_empty();
                return Ok(done(found, body_sizes, has_more, examined, true));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::Bytes;
    use hookmetry_core::{EndpointId, Header, TeamId, Verdict};

    use super::*;
    use crate::HeaderFilter;

    const DAY_MS: u64 = 86_400_000;

    fn id_at(ms: u64) -> CaptureId {
        // A v7 id at `ms` with random low bits, like ingest's.
        let ts = uuid::Timestamp::from_unix(uuid::NoContext, ms / 1000, ((ms % 1000) * 1_000_000) as u32);
        CaptureId(uuid::Uuid::new_v7(ts))
    }

    #[test]
    fn days_follow_utc_midnight_and_negative_times() {
        assert_eq!(day_of_micros(0), 0);
        assert_eq!(day_of_micros(MICROS_PER_DAY - 1), 0);
        assert_eq!(day_of_micros(MICROS_PER_DAY), 1);
        assert_eq!(day_of_micros(-1), -1);
        assert_eq!(day_of_micros(i64::MAX), 106_751_991);
        assert_eq!(day_of_micros(i64::MIN), -106_751_992);
        // 2026-11-27T06:55:08Z is day 20_784.
        assert_eq!(day_of_micros(1_795_762_508_000_000), 20_784);
    }

    #[test]
    fn capture_day_comes_from_the_id_not_the_receipt_time() {
        let day = 20_000u64;
        let last_ms = (day + 1) * DAY_MS - 1;
        let first_ms = day * DAY_MS;
        let far = Timestamp::from_micros(5 * MICROS_PER_DAY);
        assert_eq!(capture_day(id_at(first_ms), far), day as Day);
        assert_eq!(capture_day(id_at(last_ms), far), day as Day);
        assert_eq!(capture_day(id_at(last_ms + 1), far), day as Day + 1);
        assert_eq!(cursor_day(id_at(first_ms)), Some(day as Day));
        // A v4 id has no time: the receipt time decides, and a cursor bounds no day.
        let v4 = CaptureId(uuid::Uuid::from_bytes([0x42; 16]));
        assert_eq!(v4.unix_millis(), None);
        assert_eq!(capture_day(v4, far), 5);
        assert_eq!(cursor_day(v4), None);
    }

    #[test]
    fn ids_order_like_days() {
        let mut ids: Vec<_> = (0..200).map(|i| id_at(1_700_000_000_000 + i * 3_600_000 + (i % 7))).collect();
        ids.sort();
        for pair in ids.windows(2) {
            assert!(capture_day(pair[0], Timestamp(0)) <= capture_day(pair[1], Timestamp(0)));
        }
    }

    #[test]
    fn ttl_counts_retention_from_receipt() {
        let now = Timestamp::from_micros(1_795_762_508_000_000);
        let ago = |s: i64| Timestamp::from_micros(now.micros() - s * 1_000_000);
        assert_eq!(capture_ttl(7, now, now), Some(7 * 86_400));
        assert_eq!(capture_ttl(1, ago(86_400 - 60), now), Some(60));
        assert_eq!(capture_ttl(1, ago(86_400), now), None, "exactly at retention: gone");
        assert_eq!(capture_ttl(1, ago(2 * 86_400), now), None);
        assert_eq!(capture_ttl(30, ago(31 * 86_400), now), None);
        assert_eq!(capture_ttl(0, now, now), None, "no retention keeps nothing");
        // Half a second left rounds up: never expire before the retention is over.
        let almost = Timestamp::from_micros(now.micros() - 86_400_000_000 + 500_000);
        assert_eq!(capture_ttl(1, almost, now), Some(1));
        // A receipt time ten days ahead of this clock: retention plus a day at most.
        let ahead = Timestamp::from_micros(now.micros() + 10 * MICROS_PER_DAY);
        assert_eq!(capture_ttl(7, ahead, now), Some(8 * 86_400));
        assert_eq!(capture_ttl(u32::MAX, now, now), Some(MAX_TTL_SECONDS as i32));
        assert_eq!(capture_ttl(3650, now, now), Some(3650 * 86_400));
    }

    #[test]
    fn day_markers_outlive_their_captures() {
        let now = Timestamp::from_micros(1_795_762_508_000_000);
        for days in [1, 7, 30, 3650] {
            let ahead = Timestamp::from_micros(now.micros() + 3 * MICROS_PER_DAY);
            assert!(day_marker_ttl(days) > capture_ttl(days, ahead, now).unwrap(), "{days}");
        }
        assert_eq!(day_marker_ttl(7), 10 * 86_400);
        assert_eq!(day_marker_ttl(u32::MAX), MAX_TTL_SECONDS as i32);
    }

    fn stored(capture: CapturedRequest, verdict: Option<String>) -> StoredCapture {
        StoredCapture {
            body_size: capture.body.len() as u64,
            body_loaded: true,
            capture,
            verdict,
            event_type: None,
            event_id: None,
        }
    }

    fn capture(id: CaptureId, method: &str, body: &str) -> CapturedRequest {
        CapturedRequest {
            id,
            endpoint_id: EndpointId(uuid::Uuid::nil()),
            team_id: TeamId(uuid::Uuid::nil()),
            method: method.into(),
            path: "/".into(),
            query: None,
            headers: vec![Header::new("X-Kind", Bytes::copy_from_slice(method.as_bytes()))],
            body: Bytes::copy_from_slice(body.as_bytes()),
            body_sha256: [0; 32],
            remote_addr: "192.0.2.1".into(),
            http_version: "HTTP/1.1".into(),
            received_at: Timestamp::from_micros(id.unix_millis().unwrap() as i64 * 1000),
            answered: None,
        }
    }

    /// Day partitions in memory, with the quirks of a real server: pages cut short, empty pages
    /// that still continue, and skipped leftover rows.
    struct Fake {
        days: BTreeMap<Day, Vec<StoredCapture>>,
        /// Most rows in one page whatever was asked (ScyllaDB cuts pages by size).
        cut: usize,
        /// Every this-many page requests returns an empty page that continues.
        empty_every: usize,
        /// Ids returned as leftovers (counted, not returned).
        ghosts: Vec<CaptureId>,
        requests: usize,
        day_reads: Vec<Day>,
    }

    impl Fake {
        fn new(captures: &[StoredCapture]) -> Self {
            let mut days: BTreeMap<Day, Vec<StoredCapture>> = BTreeMap::new();
            for c in captures {
                days.entry(capture_day(c.capture.id, c.capture.received_at)).or_default().push(c.clone());
            }
            for rows in days.values_mut() {
                rows.sort_by_key(|r| std::cmp::Reverse(r.capture.id));
            }
            Self { days, cut: usize::MAX, empty_every: 0, ghosts: vec![], requests: 0, day_reads: vec![] }
        }
    }

    impl DaySource for Fake {
        /// Index of the next row in the partition.
        type Resume = usize;

        async fn days(&mut self, at_most: Day, max: u32) -> Result<Vec<Day>> {
            self.day_reads.push(at_most);
            Ok(self.days.range(..=at_most).rev().take(max as usize).map(|(d, _)| *d).collect())
        }

        async fn page(
            &mut self,
            day: Day,
            before: Option<CaptureId>,
            page_size: usize,
            resume: Option<usize>,
        ) -> Result<Page<usize>> {
            self.requests += 1;
            let rows: Vec<&StoredCapture> =
                self.days[&day].iter().filter(|r| before.is_none_or(|b| r.capture.id < b)).collect();
            let start = resume.unwrap_or(0);
            if self.empty_every > 0 && self.requests.is_multiple_of(self.empty_every) && start < rows.len() {
                return Ok(Page { rows: vec![], examined: 0, next: Some(start) });
            }
            let end = (start + page_size.min(self.cut)).min(rows.len());
            let slice = &rows[start..end];
            Ok(Page {
                rows: slice.iter().filter(|r| !self.ghosts.contains(&r.capture.id)).map(|r| (*r).clone()).collect(),
                examined: slice.len(),
                next: (end < rows.len()).then_some(end),
            })
        }
    }

    /// Captures over several days with gaps, a few per day, some verified.
    fn history() -> Vec<StoredCapture> {
        let base = 20_000 * DAY_MS;
        let mut out = Vec::new();
        for (day, count) in [(0u64, 5u64), (1, 0), (2, 1), (3, 12), (7, 3), (8, 0), (9, 7)] {
            for i in 0..count {
                let id = id_at(base + day * DAY_MS + i * 60_000 + 7);
                let method = if i % 3 == 0 { "GET" } else { "POST" };
                let body = if i % 4 == 1 { "needle" } else { "hay" };
                let verdict = (i % 2 == 0).then(|| Verdict::Valid.as_str().to_string());
                out.push(stored(capture(id, method, body), verdict));
            }
        }
        out
    }

    fn reference(all: &[StoredCapture], filter: &CaptureFilter) -> Vec<CaptureId> {
        let mut ids: Vec<_> = all.iter().filter(|r| matches(filter, r)).map(|r| r.capture.id).collect();
        ids.sort_by(|a, b| b.cmp(a));
        ids
    }

    /// Follows cursors from the first page to the last and returns every id seen.
    async fn page_through(fake: &mut Fake, limit: u32, filter: &CaptureFilter, budget: usize) -> Vec<CaptureId> {
        let mut seen = Vec::new();
        let mut before = None;
        for _ in 0..1_000 {
            let page = CapturePage { limit, before, filter: filter.clone(), without_bodies: false };
            let scan = scan(fake, &page, budget).await.unwrap();
            assert!(scan.list.items.len() <= limit as usize);
            seen.extend(scan.list.items.iter().map(|c| c.id));
            if !scan.list.has_more {
                return seen;
            }
            assert!(!scan.list.items.is_empty(), "has_more without a cursor to resume from");
            before = scan.list.items.last().map(|c| c.id);
        }
        panic!("paging did not end");
    }

    fn filters() -> Vec<CaptureFilter> {
        vec![
            CaptureFilter::default(),
            CaptureFilter { method: Some("GET".into()), ..Default::default() },
            CaptureFilter { method: Some("get".into()), ..Default::default() },
            CaptureFilter { body_contains: Some(b"needle".to_vec()), ..Default::default() },
            CaptureFilter { verdict: Some(Verdict::Valid), ..Default::default() },
            CaptureFilter {
                header: Some(HeaderFilter { name: "x-kind".into(), value_contains: b"OS".to_vec() }),
                verdict: Some(Verdict::Valid),
                ..Default::default()
            },
            CaptureFilter {
                received_from: Some(Timestamp::from_micros((20_003 * DAY_MS as i64 + 120_000) * 1000)),
                received_until: Some(Timestamp::from_micros((20_009 * DAY_MS as i64) * 1000)),
                ..Default::default()
            },
        ]
    }

    #[tokio::test]
    async fn pages_cover_every_match_once_newest_first() {
        let all = history();
        for filter in filters() {
            let want = reference(&all, &filter);
            for limit in [1, 2, 3, 5, 28, 100] {
                for (cut, empty_every) in [(usize::MAX, 0), (2, 0), (1, 3), (3, 2)] {
                    let mut fake = Fake::new(&all);
                    fake.cut = cut;
                    fake.empty_every = empty_every;
                    let got = page_through(&mut fake, limit, &filter, 10_000).await;
                    assert_eq!(got, want, "filter {filter:?}, limit {limit}, cut {cut}, empty every {empty_every}");
                }
            }
        }
    }

    #[tokio::test]
    async fn has_more_is_exact_within_budget() {
        let all = history();
        let total = all.len();
        let mut fake = Fake::new(&all);
        let exact = scan(&mut fake, &CapturePage { limit: total as u32, ..Default::default() }, 10_000).await.unwrap();
        assert_eq!((exact.list.items.len(), exact.list.has_more), (total, false));
        let one_less =
            scan(&mut fake, &CapturePage { limit: total as u32 - 1, ..Default::default() }, 10_000).await.unwrap();
        assert_eq!((one_less.list.items.len(), one_less.list.has_more), (total - 1, true));
        // Limit 0 only asks whether anything matches.
        let zero = scan(&mut fake, &CapturePage::default(), 10_000).await.unwrap();
        assert!(zero.list.items.is_empty() && zero.list.has_more);
        let none = CaptureFilter { method: Some("PATCH".into()), ..Default::default() };
        let zero =
            scan(&mut fake, &CapturePage { limit: 0, filter: none, ..Default::default() }, 10_000).await.unwrap();
        assert!(zero.list.items.is_empty() && !zero.list.has_more);
        // Past the oldest capture, and an endpoint with no captures at all.
        let oldest = reference(&all, &CaptureFilter::default()).pop().unwrap();
        let past = CapturePage { limit: 10, before: Some(oldest), ..Default::default() };
        let past = scan(&mut fake, &past, 10_000).await.unwrap();
        assert!(past.list.items.is_empty() && !past.list.has_more);
        let mut empty = Fake::new(&[]);
        let nothing = scan(&mut empty, &CapturePage { limit: 10, ..Default::default() }, 10_000).await.unwrap();
        assert_eq!(nothing.list, CaptureList { items: vec![], has_more: false, body_sizes: vec![] });
    }

    /// Listing rows as written since schema version 8: the size, no body.
    fn size_only(rows: &[StoredCapture]) -> Vec<StoredCapture> {
        rows.iter()
            .map(|r| {
                let mut r = r.clone();
                r.capture.body = Bytes::new();
                r.body_loaded = false;
                r
            })
            .collect()
    }

    #[tokio::test]
    async fn rows_with_only_their_body_size_list_with_those_sizes() {
        let all = history();
        let page = CapturePage { limit: 100, without_bodies: true, ..Default::default() };
        let full = scan(&mut Fake::new(&all), &page, 10_000).await.unwrap().list;
        let sized = scan(&mut Fake::new(&size_only(&all)), &page, 10_000).await.unwrap().list;
        assert_eq!(sized, full);
        assert!(sized.body_sizes.iter().any(|&s| s > 0));
        // A body filter over rows that came without bodies is a source's bug, not "no match".
        let needle = CapturePage {
            filter: CaptureFilter { body_contains: Some(b"needle".to_vec()), ..Default::default() },
            ..page
        };
        let e = scan(&mut Fake::new(&size_only(&all)), &needle, 10_000).await.unwrap_err();
        assert!(e.to_string().contains("without the body its filter reads"), "{e}");
    }

    #[tokio::test]
    async fn a_page_without_bodies_keeps_their_sizes_and_still_filters_on_them() {
        let all = history();
        for filter in filters() {
            for limit in [1, 3, 100] {
                let with = CapturePage { limit, filter: filter.clone(), ..Default::default() };
                let without = CapturePage { without_bodies: true, ..with.clone() };
                let full = scan(&mut Fake::new(&all), &with, 10_000).await.unwrap().list;
                let bare = scan(&mut Fake::new(&all), &without, 10_000).await.unwrap().list;
                let ids = |l: &CaptureList| l.items.iter().map(|c| c.id).collect::<Vec<_>>();
                assert_eq!(ids(&bare), ids(&full), "filter {filter:?}, limit {limit}");
                assert_eq!(bare.has_more, full.has_more);
                let sizes: Vec<u64> = full.items.iter().map(|c| c.body.len() as u64).collect();
                assert_eq!(full.body_sizes, sizes);
                assert_eq!(bare.body_sizes, sizes);
                assert!(bare.items.iter().all(|c| c.body.is_empty()));
            }
        }
    }

    #[tokio::test]
    async fn an_unfiltered_page_reads_only_what_it_returns_plus_one() {
        let all = history();
        let mut fake = Fake::new(&all);
        let got = scan(&mut fake, &CapturePage { limit: 5, ..Default::default() }, 10_000).await.unwrap();
        assert_eq!(got.list.items.len(), 5);
        assert_eq!(got.examined, 6, "five rows and the one that says there is more");
        assert_eq!(fake.day_reads, vec![Day::MAX]);
    }

    #[tokio::test]
    async fn the_cursor_starts_the_walk_at_its_own_day() {
        let all = history();
        let mut fake = Fake::new(&all);
        let ids = reference(&all, &CaptureFilter::default());
        // The newest capture of day 20_003 (12 of them) follows the 10 of days 20_007 and 20_009.
        let cursor = ids[10];
        assert_eq!(cursor_day(cursor), Some(20_003));
        let got = scan(&mut fake, &CapturePage { limit: 3, before: Some(cursor), ..Default::default() }, 10_000)
            .await
            .unwrap();
        assert_eq!(fake.day_reads, vec![20_003]);
        assert_eq!(got.list.items.iter().map(|c| c.id).collect::<Vec<_>>(), ids[11..14]);
    }

    #[tokio::test]
    async fn many_days_are_read_from_the_index_in_batches() {
        let base = 19_000 * DAY_MS;
        let all: Vec<_> = (0..150u64).map(|d| stored(capture(id_at(base + d * DAY_MS), "POST", "x"), None)).collect();
        let mut fake = Fake::new(&all);
        let got = page_through(&mut fake, 7, &CaptureFilter::default(), 10_000).await;
        assert_eq!(got, reference(&all, &CaptureFilter::default()));
        let mut fake = Fake::new(&all);
        let page = CapturePage { limit: 200, ..Default::default() };
        let one = scan(&mut fake, &page, 10_000).await.unwrap();
        assert_eq!((one.list.items.len(), one.list.has_more), (150, false));
        assert_eq!(fake.day_reads.len(), 3, "150 days in reads of {DAYS_PER_READ}: {:?}", fake.day_reads);
        assert_eq!(fake.day_reads[1], 19_000 + 150 - 1 - DAYS_PER_READ as Day);
    }

    #[tokio::test]
    async fn leftover_rows_are_skipped_but_counted() {
        let all = history();
        let mut fake = Fake::new(&all);
        let ids = reference(&all, &CaptureFilter::default());
        fake.ghosts = vec![ids[0], ids[3]];
        let got = scan(&mut fake, &CapturePage { limit: 4, ..Default::default() }, 10_000).await.unwrap();
        let want: Vec<_> = ids.iter().copied().filter(|id| !fake.ghosts.contains(id)).take(4).collect();
        assert_eq!(got.list.items.iter().map(|c| c.id).collect::<Vec<_>>(), want);
        assert!(got.list.has_more);
    }

    #[tokio::test]
    async fn the_budget_bounds_a_rare_filter() {
        let base = 20_000 * DAY_MS;
        // 500 non-matching rows newer than one matching row.
        let mut all: Vec<_> =
            (1..=500u64).map(|i| stored(capture(id_at(base + i * 1_000), "POST", "hay"), None)).collect();
        let rare = stored(capture(id_at(base), "POST", "needle"), None);
        all.push(rare.clone());
        let needle = CaptureFilter { body_contains: Some(b"needle".to_vec()), ..Default::default() };

        let mut fake = Fake::new(&all);
        let page = CapturePage { limit: 10, filter: needle.clone(), ..Default::default() };
        let small = scan(&mut fake, &page, 100).await.unwrap();
        assert!(small.budget_exhausted);
        assert!(small.examined <= 100 + FILTERED_PAGE_SIZE, "examined {}", small.examined);
        // Nothing found within the budget: an empty, final page, never "more" without a cursor.
        assert_eq!(small.list, CaptureList { items: vec![], has_more: false, body_sizes: vec![] });

        let mut fake = Fake::new(&all);
        let enough = scan(&mut fake, &page, 1_000).await.unwrap();
        assert!(!enough.budget_exhausted);
        assert_eq!(enough.list.items.iter().map(|c| c.id).collect::<Vec<_>>(), vec![rare.capture.id]);
        assert!(!enough.list.has_more);

        // Matches found before the budget ran out: returned, with more to resume from.
        let zz =
            CaptureFilter { method: Some("POST".into()), body_contains: Some(b"zz".to_vec()), ..Default::default() };
        all.iter_mut().step_by(50).for_each(|r| r.capture.body = Bytes::from_static(b"zz"));
        let newest_120 = reference(&all, &CaptureFilter::default())[..120].to_vec();
        let within: Vec<_> = reference(&all, &zz).into_iter().filter(|id| newest_120.contains(id)).collect();
        assert_eq!(within.len(), 2);
        let mut fake = Fake::new(&all);
        fake.cut = 10;
        let page = CapturePage { limit: 100, filter: zz.clone(), ..Default::default() };
        let partial = scan(&mut fake, &page, 120).await.unwrap();
        assert!(partial.budget_exhausted && partial.list.has_more, "{partial:?}");
        assert_eq!(partial.examined, 120);
        assert_eq!(partial.list.items.iter().map(|c| c.id).collect::<Vec<_>>(), within);
        let mut fake = Fake::new(&all);
        fake.cut = 10;
        let everything = page_through(&mut fake, 100, &zz, 120).await;
        assert_eq!(everything, reference(&all, &zz), "resuming after each budget covers everything");
    }

    #[test]
    fn filters_match_like_the_embedded_store() {
        let id = id_at(20_000 * DAY_MS);
        let mut c = capture(id, "POST", "{\"type\":\"charge\"}");
        c.headers = vec![Header::new("Stripe-Signature", Bytes::from_static(b"\xfft=1,v1=abc"))];
        c.path = "/stripe%2Fevents".into();
        let row = stored(c.clone(), Some("INVALID_SIGNATURE".into()));
        let at = c.received_at;
        let yes = |f: CaptureFilter| assert!(matches(&f, &row), "{f:?}");
        let no = |f: CaptureFilter| assert!(!matches(&f, &row), "{f:?}");
        yes(CaptureFilter::default());
        yes(CaptureFilter { method: Some("POST".into()), ..Default::default() });
        no(CaptureFilter { method: Some("post".into()), ..Default::default() });
        yes(CaptureFilter { received_from: Some(at), received_until: Some(Timestamp(at.0 + 1)), ..Default::default() });
        no(CaptureFilter { received_until: Some(at), ..Default::default() });
        no(CaptureFilter { received_from: Some(Timestamp(at.0 + 1)), ..Default::default() });
        let header = |n: &str, v: &[u8]| CaptureFilter {
            header: Some(HeaderFilter { name: n.into(), value_contains: v.to_vec() }),
            ..Default::default()
        };
        yes(header("stripe-signature", b""));
        yes(header("STRIPE-SIGNATURE", b"\xfft="));
        no(header("stripe-signature", b"V1"));
        no(header("x-other", b""));
        yes(CaptureFilter { body_contains: Some(b"charge".to_vec()), ..Default::default() });
        yes(CaptureFilter { body_contains: Some(vec![]), ..Default::default() });
        no(CaptureFilter { body_contains: Some(b"CHARGE".to_vec()), ..Default::default() });
        let path = |p: &str| CaptureFilter { path_prefix: Some(p.into()), ..Default::default() };
        yes(path("/"));
        yes(path("/stripe%2F"));
        no(path("/Stripe"));
        no(path("/stripe/"));
        yes(CaptureFilter { verdict: Some(Verdict::InvalidSignature), ..Default::default() });
        no(CaptureFilter { verdict: Some(Verdict::Valid), ..Default::default() });
        let unverified = stored(c, None);
        assert!(!matches(&CaptureFilter { verdict: Some(Verdict::Valid), ..Default::default() }, &unverified));
    }
}
