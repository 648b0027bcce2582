//! Property tests of the ladder fitting (output-layout §3): random sources (sizes and rates
//! real and absurd) and random requested items. The invariants themselves live in
//! `hls_ladder::fuzzing`, which the `resolutions` fuzz target checks as well.

use hls_ladder::fuzzing::{
    check_even_sizes, check_fit, check_ladder, check_ladder_shape, check_never_above_source, check_rates, fit_one,
};
use hls_ladder::ladder::{self, fit_ladder, Rate, RequestItem, RequestedRes, SourceVideo};
use proptest::prelude::*;

fn side() -> impl Strategy<Value = i64> {
    prop_oneof![
        6 => prop_oneof![Just(1920), Just(1280), Just(1080), Just(720), Just(640), Just(360), Just(1281), Just(721)],
        6 => 1i64..=4096,
        1 => 1i64..=20,
        1 => 8000i64..=100_000,
        1 => any::<i64>(),
    ]
}

fn rate() -> impl Strategy<Value = Option<Rate>> {
    let common = [(24000, 1001), (24, 1), (25, 1), (30000, 1001), (30, 1), (50, 1), (60000, 1001), (60, 1), (240, 1)];
    prop_oneof![
        4 => proptest::sample::select(common.to_vec()).prop_map(|(n, d)| Some(Rate::new(n, d))),
        3 => (1i64..=300, 1i64..=1001).prop_map(|(n, d)| Some(Rate::new(n, d))),
        1 => Just(None),
        // Whatever a broken container might report, unreduced and with zero denominators.
        1 => (any::<i64>(), any::<i64>()).prop_map(|(n, d)| Some(Rate::new_raw(n, d))),
    ]
}

fn source() -> impl Strategy<Value = SourceVideo> {
    (side(), side(), rate(), rate()).prop_map(|(width, height, avg_rate, base_rate)| SourceVideo {
        width,
        height,
        avg_rate,
        base_rate,
    })
}

/// A requested size, FPS and KBPS within the §2 ranges (what `parse_list` can produce).
fn res() -> impl Strategy<Value = RequestedRes> {
    let dim = prop_oneof![
        3 => prop_oneof![Just(1920u32), Just(1280), Just(854), Just(853), Just(640), Just(426), Just(360), Just(240)],
        3 => 1u32..=8192,
        1 => 1u32..=16,
    ];
    let fps = prop_oneof![3 => Just(0u32), 4 => 1u32..=120, 1 => 0..=i32::MAX as u32];
    let kbps = prop_oneof![Just(0u32), 1u32..=20_000];
    (dim.clone(), dim, fps, kbps).prop_map(|(width, height, fps, kbps)| RequestedRes { width, height, fps, kbps })
}

fn items() -> impl Strategy<Value = Vec<RequestItem>> {
    let item = prop_oneof![1 => Just(RequestItem::Original), 8 => res().prop_map(RequestItem::Res)];
    proptest::collection::vec(item, 0..8)
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    /// Every rendition is encoded at even dimensions; only ORIGINAL is padded, by one pixel.
    #[test]
    fn every_rendition_is_encoded_at_an_even_size(source in source(), items in items()) {
        let fitted = fit_ladder(&source, &items);
        check_even_sizes(&fitted);
        for r in fitted.iter().filter(|r| !r.original) {
            prop_assert!(r.width % 2 == 0 && r.height % 2 == 0);
        }
    }

    /// The fitted size fills the even box along one side and keeps the source aspect ratio:
    /// the other side is the exact length rounded up to even, so it is never short and less
    /// than 2 px long (one pixel of each half-size).
    #[test]
    fn each_item_keeps_the_source_aspect_ratio(source in source(), res in res()) {
        let r = fit_one(&source, &res);
        check_fit(&source, &res, &r);
        let (w0, h0) = source.size();
        let (w0, h0, w, h) = (f64::from(w0), f64::from(h0), f64::from(r.width), f64::from(r.height));
        // The derived side is the other side scaled by the source aspect, plus [0, 2) px.
        let over = |v: f64| (-1e-6..2.0).contains(&v);
        let (over_h, over_w) = (h - w * h0 / w0, w - h * w0 / h0);
        prop_assert!(over(over_h) || over(over_w), "{r:?} from {w0}x{h0}: {over_h} / {over_w} px off the aspect");
    }

    /// Nothing is larger than the source except the documented upscale (the smallest candidate
    /// alone when nothing fits and ORIGINAL was not asked for) and ORIGINAL's padding.
    #[test]
    fn nothing_is_larger_than_the_source_but_the_documented_upscale(source in source(), items in items()) {
        let fitted = fit_ladder(&source, &items);
        check_never_above_source(&source, &items, &fitted);
        let (w0, h0) = source.size();
        let above = fitted.iter().filter(|r| !r.original && (r.width > w0 || r.height > h0)).count();
        if above > 0 {
            prop_assert_eq!(fitted.len(), 1);
        }
    }

    /// No output rate exceeds the source's (`Rs`, 30 when unknown); a requested FPS below it is
    /// met exactly or by an exact decimation within 0.2 %.
    #[test]
    fn no_rendition_is_faster_than_the_source(source in source(), items in items()) {
        let fitted = fit_ladder(&source, &items);
        check_rates(&source, &items, &fitted);
        for r in &fitted {
            prop_assert!(r.rate <= source.rs());
        }
    }

    /// ORIGINAL first when asked for, then the fitted items in request order, without repeated
    /// labels or items larger than the source; never an empty ladder.
    #[test]
    fn the_ladder_is_composed_as_section_3_says(source in source(), items in items()) {
        check_ladder_shape(&source, &items, &fit_ladder(&source, &items));
    }

    /// Every invariant together, on items also built by hand outside the §2 ranges.
    #[test]
    fn hand_built_items_are_clamped_and_keep_every_invariant(
        source in source(),
        raw in proptest::collection::vec((any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()), 0..4),
        original in any::<bool>(),
    ) {
        let mut items: Vec<RequestItem> = raw
            .into_iter()
            .map(|(width, height, fps, kbps)| RequestItem::Res(RequestedRes { width, height, fps, kbps }))
            .collect();
        if original {
            items.push(RequestItem::Original);
        }
        check_ladder(&source, &items, &fit_ladder(&source, &items));
    }

    /// A label is a canonical item: it parses back to the item it was made from.
    #[test]
    fn labels_parse_back_to_their_item(res in res()) {
        let label = ladder::label(res.width, res.height, res.fps, res.kbps);
        prop_assert_eq!(ladder::parse_item(&label).ok(), Some(RequestItem::Res(res)));
    }
}
