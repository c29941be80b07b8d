//! The images: generated in groups, encoded as PNG; decoded, shrunk and
//! flattened into feature vectors.

use std::io;

use serde_bytes::ByteBuf;

/// The side of the shrunk image: a feature vector has `SMALL * SMALL * 3`
/// numbers.
pub const SMALL: u32 = 16;

/// How many visual groups the images fall in (see [`generate`]).
pub const GROUPS: usize = 4;

/// A small deterministic random number generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n)) as u32
    }
}

/// Image `index`: its group, and its PNG encoding.
///
/// The groups: warm horizontal gradients, green vertical stripes, blue
/// checkerboards, grey discs. Each image varies its colour, its scale and
/// its phase, with noise on every pixel.
pub fn generate(index: usize, side: u32) -> (usize, Vec<u8>) {
    let mut rng = Rng(index as u64);
    let group = rng.below(GROUPS as u32) as usize;
    let jitter = |rng: &mut Rng, c: u32| (c + rng.below(60)).min(255) as i32;
    let base = match group {
        0 => [jitter(&mut rng, 190), jitter(&mut rng, 60), 20],
        1 => [20, jitter(&mut rng, 170), jitter(&mut rng, 40)],
        2 => [
            jitter(&mut rng, 20),
            jitter(&mut rng, 50),
            jitter(&mut rng, 190),
        ],
        _ => {
            let g = jitter(&mut rng, 140);
            [g, g, g]
        }
    };
    let period = (side / 8 + rng.below(side / 8 + 1)).max(1);
    let phase = rng.below(period);
    let mut pixels = Vec::with_capacity((side * side * 3) as usize);
    for y in 0..side {
        for x in 0..side {
            // A shade from 0.4 to 1.0 of the base colour.
            let shade = match group {
                0 => 0.4 + 0.6 * f64::from(x) / f64::from(side),
                1 => [0.4, 1.0][((x + phase) / period % 2) as usize],
                2 => [0.4, 1.0][(((x + phase) / period + (y + phase) / period) % 2) as usize],
                _ => {
                    let (dx, dy) = (
                        f64::from(x) - f64::from(side) / 2.0,
                        f64::from(y) - f64::from(side) / 2.0,
                    );
                    if (dx * dx + dy * dy).sqrt() < f64::from(side) / 3.0 {
                        1.0
                    } else {
                        0.4
                    }
                }
            };
            for c in base {
                let noise = rng.below(33) as i32 - 16;
                pixels.push(((f64::from(c) * shade) as i32 + noise).clamp(0, 255) as u8);
            }
        }
    }
    let mut png = Vec::new();
    let mut encoder = png::Encoder::new(&mut png, side, side);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().expect("writing to a Vec");
    writer.write_image_data(&pixels).expect("writing to a Vec");
    writer.finish().expect("writing to a Vec");
    (group, png)
}

/// Decodes a PNG, shrinks it to `SMALL`x`SMALL` (each pixel the mean of its
/// block) and flattens it into `SMALL * SMALL * 3` numbers from 0 to 1.
/// Runs in a worker process (and in the sequential version, here).
///
/// An empty image gives no numbers (the pool's warm-up sends one).
pub fn shrink((index, png): (u32, ByteBuf)) -> Result<(u32, Vec<f32>), String> {
    if png.is_empty() {
        return Ok((index, Vec::new()));
    }
    let fail = |e: png::DecodingError| format!("image {index}: not a PNG we can read: {e}");
    let mut decoder = png::Decoder::new(io::Cursor::new(&png[..]));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(fail)?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| format!("image {index}: too large"))?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(fail)?;
    let (w, h) = (info.width as usize, info.height as usize);
    let channels = info.color_type.samples();
    let rgb = |p: &[u8]| match channels {
        1 | 2 => [p[0]; 3],
        _ => [p[0], p[1], p[2]],
    };
    let small = SMALL as usize;
    let mut features = Vec::with_capacity(small * small * 3);
    for by in 0..small {
        let (y0, y1) = (
            by * h / small,
            ((by + 1) * h / small).max(by * h / small + 1),
        );
        for bx in 0..small {
            let (x0, x1) = (
                bx * w / small,
                ((bx + 1) * w / small).max(bx * w / small + 1),
            );
            let mut sum = [0u64; 3];
            for y in y0..y1.min(h) {
                let row = &buf[y * info.line_size..];
                for x in x0..x1.min(w) {
                    let px = rgb(&row[x * channels..]);
                    for c in 0..3 {
                        sum[c] += u64::from(px[c]);
                    }
                }
            }
            let n = ((y1.min(h) - y0) * (x1.min(w) - x0)).max(1) as f32;
            features.extend(sum.map(|s| s as f32 / n / 255.0));
        }
    }
    Ok((index, features))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrink_averages_blocks_and_refuses_what_is_not_a_png() {
        // Left half black, right half white: each 16x16 block is one or the other.
        let side = 32;
        let pixels: Vec<u8> = (0..side * side)
            .flat_map(|i| [if i % side < side / 2 { 0 } else { 255 }; 3])
            .collect();
        let mut png = Vec::new();
        let mut encoder = png::Encoder::new(&mut png, side, side);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder
            .write_header()
            .unwrap()
            .write_image_data(&pixels)
            .unwrap();
        let (index, features) = shrink((3, ByteBuf::from(png))).unwrap();
        assert_eq!((index, features.len()), (3, 16 * 16 * 3));
        for (i, &value) in features.iter().enumerate() {
            let x = i / 3 % 16;
            assert_eq!(value, if x < 8 { 0.0 } else { 1.0 }, "feature {i}");
        }
        let err = shrink((5, ByteBuf::from(&b"GIF89a"[..]))).unwrap_err();
        assert!(err.starts_with("image 5: not a PNG we can read: "), "{err}");
    }
}
