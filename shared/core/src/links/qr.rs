//! QR codes of links' public URLs.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// An SVG QR code (medium error correction, with its quiet zone) of `url`; `None` when the URL is
/// too long for a QR code.
pub fn svg(url: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M).ok()?;
    Some(
        code.render::<svg::Color<'_>>()
            .min_dimensions(256, 256)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls_render_as_svg() {
        let svg = super::svg("https://go.example.com/mystore").unwrap();
        assert!(svg.starts_with("<?xml"));
        assert!(svg.contains("<svg"));
        assert!(svg.contains("<path"));
        assert!(super::svg(&"x".repeat(5000)).is_none());
    }
}
