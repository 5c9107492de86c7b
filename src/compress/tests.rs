//! Streams assembled from shared per-event frames decode to exactly the events sent, in both
//! encodings and any order (issue 21 §3; protocol.md C-HDR-3, A-SSE-7, A-SSE-8).

use std::io::Read;

use flate2::read::GzDecoder;

use super::*;

/// A deterministic event of `len` bytes that deflate cannot shrink.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

/// A realistic SSE event carrying a ~1 KB JSON-LD update (the load generator's).
fn json_ld_event(rng: &mut fastrand::Rng) -> Vec<u8> {
    let mut event = format!("id: urn:uuid:{:032x}\ndata: ", rng.u128(..)).into_bytes();
    quicksilver_bench::payload::json_ld(&mut event, rng);
    event.extend_from_slice(b"\n\n");
    event
}

fn gunzip(stream: &[u8]) -> Vec<u8> {
    let mut plain = Vec::new();
    GzDecoder::new(stream)
        .read_to_end(&mut plain)
        .expect("a valid gzip stream whose CRC-32 and ISIZE match");
    plain
}

fn unzstd(stream: &[u8]) -> Vec<u8> {
    zstd::stream::decode_all(stream).expect("a valid zstd stream")
}

/// Writes a whole stream the way a connection does, through the portable body path: opening,
/// events, a heartbeat between each, trailer. Returns the body and the plain text it stands for.
fn stream_of(
    encoding: Encoding,
    events: &[(&CompressedViews, &[u8])],
    min_size: usize,
) -> (Vec<u8>, Vec<u8>) {
    let mut encoder = StreamEncoder::new(encoding);
    let mut body = encoder.opening().body().to_vec();
    let mut plain = b":\n".to_vec();
    for (views, event) in events {
        body.extend_from_slice(&encoder.event(views, event, min_size).body());
        body.extend_from_slice(&encoder.comment().body());
        plain.extend_from_slice(event);
        plain.extend_from_slice(b":\n");
    }
    if let Some(end) = encoder.end() {
        body.extend_from_slice(&end.body());
    }
    (body, plain)
}

fn decode(encoding: Encoding, body: &[u8]) -> Vec<u8> {
    match encoding {
        Encoding::Gzip => gunzip(body),
        Encoding::Zstd => unzstd(body),
    }
}

#[test]
fn mixed_stored_and_compressed_events_decode_to_the_events() {
    // C-HDR-3, A-SSE-8: each event a whole unit; stored below the minimum, compressed above.
    let mut rng = fastrand::Rng::with_seed(1);
    let small = b"id: 1\ndata: hi\n\n".to_vec();
    let events = [
        small.clone(),
        json_ld_event(&mut rng),
        noise(3000, 2),
        json_ld_event(&mut rng),
        small,
    ];
    let views: Vec<CompressedViews> = events.iter().map(|_| CompressedViews::new()).collect();
    let pairs: Vec<(&CompressedViews, &[u8])> =
        views.iter().zip(events.iter().map(Vec::as_slice)).collect();
    for encoding in Encoding::ALL {
        let (body, plain) = stream_of(encoding, &pairs, DEFAULT_MIN_SIZE);
        assert_eq!(decode(encoding, &body), plain, "{encoding:?}");
    }
}

#[test]
fn the_same_event_bytes_serve_streams_with_different_histories() {
    // Issue 21 §3: one compressed form, valid after any preceding events of any stream.
    let mut rng = fastrand::Rng::with_seed(3);
    let (first, second, shared) = (
        json_ld_event(&mut rng),
        json_ld_event(&mut rng),
        json_ld_event(&mut rng),
    );
    let [first_views, second_views, shared_views] = [(); 3].map(|_| CompressedViews::new());
    for encoding in Encoding::ALL {
        let (one, one_plain) = stream_of(
            encoding,
            &[(&first_views, &first), (&shared_views, &shared)],
            0,
        );
        let (two, two_plain) = stream_of(
            encoding,
            &[
                (&second_views, &second),
                (&first_views, &first),
                (&shared_views, &shared),
            ],
            0,
        );
        assert_eq!(decode(encoding, &one), one_plain);
        assert_eq!(decode(encoding, &two), two_plain);
        let bytes = shared_views.frame(encoding, &shared, 0).body();
        assert!(
            one.windows(bytes.len()).any(|w| w == bytes)
                && two.windows(bytes.len()).any(|w| w == bytes)
        );
    }
}

#[test]
fn no_context_is_shared_between_events() {
    // Issue 21 §3, C-HDR-3: an event's compressed bytes depend on that event alone, even with
    // the per-thread compressor reused, so a private update's size says nothing of a public one.
    let mut rng = fastrand::Rng::with_seed(11);
    let (private, public) = (json_ld_event(&mut rng), json_ld_event(&mut rng));
    for encoding in Encoding::ALL {
        let alone = CompressedViews::new().frame(encoding, &public, 0).clone();
        let _ = CompressedViews::new().frame(encoding, &private, 0);
        let after = CompressedViews::new().frame(encoding, &public, 0).clone();
        assert_eq!(alone, after, "{encoding:?}");
    }
}

#[test]
fn each_event_decodes_in_full_as_soon_as_its_frame_arrives() {
    // A-SSE-8: compression holds nothing back; a decoder fed one event's frame yields all of it.
    use flate2::{Decompress, FlushDecompress};
    let mut rng = fastrand::Rng::with_seed(14);
    let events = [
        json_ld_event(&mut rng),
        b"id: 2\ndata: x\n\n".to_vec(),
        noise(70_000, 15),
    ];
    let mut inflate = Decompress::new(false);
    for event in &events {
        let views = CompressedViews::new();
        let body = views.gzip(event, DEFAULT_MIN_SIZE).frame().body();
        let mut out = Vec::with_capacity(event.len() + 1);
        let before = inflate.total_in();
        let _ = inflate.decompress_vec(&body, &mut out, FlushDecompress::Sync);
        assert_eq!(
            (inflate.total_in() - before, &out),
            (body.len() as u64, event)
        );
        assert_eq!(&unzstd(&views.zstd(event, DEFAULT_MIN_SIZE).body()), event);
    }
}

#[test]
fn an_empty_stream_is_valid() {
    // A-SSE-9: a stream ended at once still ends cleanly.
    let bare = [GZIP_HEADER.as_slice(), &GzipStream::new().trailer()].concat();
    assert_eq!(gunzip(&bare), b"");
    for encoding in Encoding::ALL {
        let (body, plain) = stream_of(encoding, &[], 0);
        assert_eq!(decode(encoding, &body), plain);
        assert_eq!(plain, b":\n");
    }
}

#[test]
fn events_beyond_block_limits_round_trip() {
    // Stored deflate blocks hold 64 KiB, raw zstd blocks 128 KiB: larger events take several.
    let mut rng = fastrand::Rng::with_seed(4);
    let mut repetitive = Vec::new();
    while repetitive.len() < 300_000 {
        repetitive.extend(json_ld_event(&mut rng));
    }
    let events = [
        noise(65_535, 5),
        noise(65_536, 6),
        noise(200_000, 7),
        repetitive,
    ];
    for min_size in [0, usize::MAX] {
        let views: Vec<CompressedViews> = events.iter().map(|_| CompressedViews::new()).collect();
        let pairs: Vec<(&CompressedViews, &[u8])> =
            views.iter().zip(events.iter().map(Vec::as_slice)).collect();
        for encoding in Encoding::ALL {
            let (body, plain) = stream_of(encoding, &pairs, min_size);
            assert_eq!(
                decode(encoding, &body),
                plain,
                "{encoding:?} min {min_size}"
            );
        }
    }
}

#[test]
fn empty_and_tiny_events_have_non_empty_frames() {
    // An empty HTTP/1.1 chunk would end the body.
    for event in [&b""[..], b"x", b":\n"] {
        for min_size in [0, 1, DEFAULT_MIN_SIZE] {
            for encoding in Encoding::ALL {
                let views = CompressedViews::new();
                let frame = views.frame(encoding, event, min_size);
                assert!(!frame.body().is_empty());
                let (body, plain) = stream_of(encoding, &[(&views, event)], min_size);
                assert_eq!(decode(encoding, &body), plain);
            }
        }
    }
}

#[test]
fn frames_are_http_chunks_around_their_body() {
    // The direct writer sends `chunk()` as it is.
    for len in [0, 1, 15, 16, 4095, 70_000] {
        let frame = zstd_frame(&noise(len, len as u64), usize::MAX);
        let body = frame.body();
        let expected = [format!("{:x}\r\n", body.len()).as_bytes(), &body, b"\r\n"].concat();
        assert_eq!(frame.chunk().as_ref(), expected.as_slice());
    }
}

#[test]
fn the_trailer_combines_every_recorded_crc_and_length() {
    let parts: [&[u8]; 3] = [b"id: a\ndata: 1\n\n", b"", b":\n"];
    let mut stream = GzipStream::new();
    for part in parts {
        stream.record(crc32fast::hash(part), part.len() as u64);
    }
    let trailer = stream.trailer();
    assert_eq!(trailer[..2], [0x03, 0x00]);
    assert_eq!(
        trailer[2..6],
        crc32fast::hash(&parts.concat()).to_le_bytes()
    );
    assert_eq!(trailer[6..], 17u32.to_le_bytes());
    // The decoder checks them: a wrong CRC-32 is refused.
    let mut body = [
        GZIP_HEADER.as_slice(),
        &GzipEvent::stored(parts[0]).frame().body(),
        &trailer,
    ]
    .concat();
    let crc_at = body.len() - 8;
    body[crc_at] ^= 1;
    assert!(GzDecoder::new(body.as_slice())
        .read_to_end(&mut Vec::new())
        .is_err());
    // ISIZE is the length modulo 2^32.
    let mut huge = GzipStream::new();
    huge.record(0, (1 << 32) + 5);
    assert_eq!(huge.trailer()[6..], 5u32.to_le_bytes());
}

#[test]
fn views_compress_lazily_once_per_encoding() {
    // Issue 21 §3: nothing is compressed until a subscriber of that encoding asks.
    let event = json_ld_event(&mut fastrand::Rng::with_seed(8));
    let views = CompressedViews::new();
    assert!(!views.is_computed(Encoding::Gzip) && !views.is_computed(Encoding::Zstd));
    let first = views.frame(Encoding::Gzip, &event, 0).chunk().as_ptr();
    assert!(views.is_computed(Encoding::Gzip) && !views.is_computed(Encoding::Zstd));
    // Later calls reuse the bytes, whatever they pass.
    assert_eq!(
        views
            .frame(Encoding::Gzip, b"other", usize::MAX)
            .chunk()
            .as_ptr(),
        first
    );
    assert!(std::mem::size_of::<CompressedViews>() <= 16);
}

#[test]
fn compressed_forms_are_at_most_half_of_json_ld_events() {
    // Issue 21 §3 goal: bytes per delivery ≤ 0.5 × uncompressed on ~1 KB JSON-LD events.
    for encoding in Encoding::ALL {
        let ratio = ratio(encoding, 200);
        assert!(ratio <= 0.5, "{encoding:?}: {ratio:.3}");
    }
}

/// Compressed bytes over plain bytes for `count` realistic events.
fn ratio(encoding: Encoding, count: usize) -> f64 {
    let mut rng = fastrand::Rng::with_seed(9);
    let (mut plain, mut compressed) = (0, 0);
    for _ in 0..count {
        let event = json_ld_event(&mut rng);
        plain += event.len();
        compressed += CompressedViews::new()
            .frame(encoding, &event, DEFAULT_MIN_SIZE)
            .body()
            .len();
    }
    compressed as f64 / plain as f64
}

/// `cargo test --lib compress::tests::measure -- --ignored --nocapture`
#[test]
#[ignore = "a measurement, not a check"]
fn measure() {
    let mut rng = fastrand::Rng::with_seed(9);
    let mean = (0..1000)
        .map(|_| json_ld_event(&mut rng).len())
        .sum::<usize>()
        / 1000;
    println!("mean event {mean} bytes");
    for encoding in Encoding::ALL {
        let started = std::time::Instant::now();
        let ratio = ratio(encoding, 1000);
        println!(
            "{encoding:?}: ratio {ratio:.3}, {:?} per event (with generation)",
            started.elapsed() / 1000
        );
    }
}

#[test]
fn mode_parses_its_two_values() {
    assert_eq!("off".parse(), Ok(Mode::Off));
    assert_eq!("auto".parse(), Ok(Mode::Auto));
    assert!("gzip".parse::<Mode>().is_err());
    let long = "x".repeat(10_000).parse::<Mode>().unwrap_err().to_string();
    assert!(long.len() < 200);
}

fn choose(header: &str) -> Option<Encoding> {
    negotiate([header.as_bytes()], &Encoding::ALL)
}

#[test]
fn negotiation_follows_q_values() {
    // C-HDR-3: q-values honoured (RFC 9110 §12.5.3).
    use Encoding::{Gzip, Zstd};
    let table: &[(&str, Option<Encoding>)] = &[
        ("", None),
        ("gzip", Some(Gzip)),
        ("GZip", Some(Gzip)),
        ("x-gzip", Some(Gzip)),
        ("zstd", Some(Zstd)),
        ("gzip, deflate, br, zstd", Some(Zstd)),
        ("gzip, deflate, br", Some(Gzip)),
        ("br, deflate", None),
        ("gzip;q=1.0, zstd;q=0.9", Some(Gzip)),
        ("gzip;q=0.5, zstd;q=0.501", Some(Zstd)),
        ("gzip ; Q = 0.2 , zstd;q=0", Some(Gzip)),
        ("gzip;q=0, zstd;q=0", None),
        ("gzip, gzip;q=0", None),
        ("*", Some(Zstd)),
        ("*;q=0", None),
        ("gzip, *;q=0", Some(Gzip)),
        ("zstd;q=0, *", Some(Gzip)),
        ("gzip;q=0.5, identity", None),
        ("gzip, identity;q=1", Some(Gzip)),
        ("gzip;q=0.5, *", Some(Zstd)),
        ("gzip;q=0.5, *;q=0.4", Some(Gzip)),
        ("identity;q=0", None),
        ("gzip;q=1.001", None),
        ("gzip;q=2", None),
        ("gzip;q=0.1234", None),
        ("gzip;q=", None),
        ("gzip;q=abc", None),
        ("gzip;q=-1", None),
        ("gzip;q=0.5;q=1", None),
        ("gzip;level=9", None),
        ("gzip;level=9, zstd;q=0.1", Some(Zstd)),
        ("gz ip, zstd", Some(Zstd)),
        (",,, ;, gzip ,,", Some(Gzip)),
        ("\tzstd\t;\tq=0.3", Some(Zstd)),
    ];
    for (header, expected) in table {
        assert_eq!(choose(header), *expected, "{header:?}");
    }
}

#[test]
fn negotiation_reads_every_header_line_and_honours_the_settings() {
    let lines: [&[u8]; 2] = [b"gzip;q=0.5", b"zstd;q=0.4"];
    assert_eq!(negotiate(lines, &Encoding::ALL), Some(Encoding::Gzip));
    assert_eq!(negotiate(lines, &[Encoding::Zstd]), Some(Encoding::Zstd));
    assert_eq!(negotiate(lines, &[]), None);
    assert_eq!(negotiate([], &Encoding::ALL), None);
    // C-HDR-3: off by default, whatever the request accepts.
    assert_eq!(Policy::default().negotiate(lines), None);
    let auto = Policy {
        mode: Mode::Auto,
        ..Policy::default()
    };
    assert_eq!(auto.negotiate(lines), Some(Encoding::Gzip));
}

#[test]
fn negotiation_survives_hostile_headers() {
    let mut rng = fastrand::Rng::with_seed(10);
    let alphabet = b"gzipstd*;q=.,01 \t\xff\x00identy-";
    for _ in 0..5000 {
        let header: Vec<u8> = (0..rng.usize(..64))
            .map(|_| alphabet[rng.usize(..alphabet.len())])
            .collect();
        let _ = negotiate([header.as_slice()], &Encoding::ALL);
    }
    let long = "gzip;q=0.1,".repeat(100_000);
    assert_eq!(choose(&long), Some(Encoding::Gzip));
    assert_eq!(choose("é, zstd"), Some(Encoding::Zstd));
    assert_eq!(
        negotiate([&b"\xff\xfe;q=1, gzip"[..]], &Encoding::ALL),
        Some(Encoding::Gzip)
    );
}

/// Ratios at other levels and of one deflate stream per connection, for the record:
/// `cargo test --lib compress::tests::measure_levels -- --ignored --nocapture`
#[test]
#[ignore = "a measurement, not a check"]
fn measure_levels() {
    use flate2::{Compress, Compression, FlushCompress};
    let mut rng = fastrand::Rng::with_seed(9);
    let events: Vec<Vec<u8>> = (0..1000).map(|_| json_ld_event(&mut rng)).collect();
    let plain = events.iter().map(Vec::len).sum::<usize>() as f64;
    let deflate = |level, shared: bool| {
        let mut compress = Compress::new(Compression::new(level), false);
        let mut total = 0;
        for event in &events {
            if !shared {
                compress.reset();
            }
            let mut out = Vec::with_capacity(event.len() * 2 + 64);
            let _ = compress.compress_vec(event, &mut out, FlushCompress::Sync);
            total += out.len();
        }
        total as f64 / plain
    };
    for level in [1, 6, 9] {
        println!(
            "deflate {level}: per event {:.3}, per connection {:.3}",
            deflate(level, false),
            deflate(level, true)
        );
    }
    for level in [1, 3, 6, 12, 19] {
        let total: usize = events
            .iter()
            .map(|e| zstd::bulk::compress(e, level).map_or(0, |c| c.len()))
            .sum();
        println!("zstd {level}: per event {:.3}", total as f64 / plain);
    }
}

/// Writes sample streams for outside decoders (`gzip -dc`, `zstd -dc`, Python's zlib):
/// `QS_COMPRESS_SAMPLES=dir cargo test --lib compress::tests::write_samples -- --ignored`
#[test]
#[ignore = "writes files for a manual check"]
fn write_samples() {
    let Ok(dir) = std::env::var("QS_COMPRESS_SAMPLES") else {
        return;
    };
    let mut rng = fastrand::Rng::with_seed(12);
    let events = [
        json_ld_event(&mut rng),
        b"id: 2\ndata: x\n\n".to_vec(),
        noise(70_000, 13),
    ];
    let views: Vec<CompressedViews> = events.iter().map(|_| CompressedViews::new()).collect();
    let pairs: Vec<(&CompressedViews, &[u8])> =
        views.iter().zip(events.iter().map(Vec::as_slice)).collect();
    for (encoding, name) in [
        (Encoding::Gzip, "stream.gz"),
        (Encoding::Zstd, "stream.zst"),
    ] {
        let (body, plain) = stream_of(encoding, &pairs, DEFAULT_MIN_SIZE);
        std::fs::write(format!("{dir}/{name}"), body).expect("writable sample directory");
        std::fs::write(format!("{dir}/stream.txt"), plain).expect("writable sample directory");
    }
}
