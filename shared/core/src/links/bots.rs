//! Who is clicking: link-preview crawlers and other bots never advance a rotation.
//!
//! The patterns are the `isbot` crate's maintained list, compiled once into a single regular
//! expression on first use, plus the preview fetchers that list spells too narrowly.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::LazyLock;

/// Preview fetchers missing from (or matched too narrowly by) the maintained list, as lower-case
/// regular expressions. WhatsApp's fetcher sends `WhatsApp/2.23.20.0` with or without a suffix.
const EXTRA_PATTERNS: &[&str] = &[r"^whatsapp/[0-9.]+", r"telegrambot", r"slackbot"];

static BOTS: LazyLock<isbot::Bots> = LazyLock::new(|| {
    let mut bots = isbot::Bots::default();
    bots.append(EXTRA_PATTERNS);
    bots
});

/// Compiles the pattern list now (at start-up) instead of on the first click.
pub fn warm_up() {
    LazyLock::force(&BOTS);
}

/// Whether the `User-Agent` belongs to a crawler, preview fetcher or other bot. A request without
/// a user agent is treated as a person: every preview fetcher names itself.
///
/// A verdict is remembered per thread for the last [`VERDICTS_KEPT`] user agents: clicks come
/// from a few browser versions, and matching one against the whole list costs more than the
/// rest of the click.
pub fn is_bot(user_agent: Option<&str>) -> bool {
    match user_agent {
        Some(ua) if !ua.trim().is_empty() => VERDICTS.with(|verdicts| {
            if let Some(verdict) = verdicts.borrow().get(ua) {
                return *verdict;
            }
            let verdict = BOTS.is_bot(ua);
            let mut verdicts = verdicts.borrow_mut();
            if verdicts.len() >= VERDICTS_KEPT {
                verdicts.clear();
            }
            // A long user agent is matched every time rather than kept.
            if ua.len() <= 512 {
                verdicts.insert(ua.into(), verdict);
            }
            verdict
        }),
        _ => false,
    }
}

/// User agents whose verdict a thread remembers.
pub const VERDICTS_KEPT: usize = 1024;

thread_local! {
    static VERDICTS: RefCell<HashMap<Box<str>, bool>> = RefCell::new(HashMap::new());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_verdict_is_the_lists_verdict() {
        let person = "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36";
        let crawler = "facebookexternalhit/1.1";
        for _ in 0..3 {
            assert!(!is_bot(Some(person)));
            assert!(is_bot(Some(crawler)));
        }
        // More user agents than are kept: the memory starts again, the verdicts stay right.
        for i in 0..VERDICTS_KEPT + 10 {
            assert!(!is_bot(Some(&format!("{person} build/{i}"))));
            assert!(is_bot(Some(&format!("Googlebot/{i}.1"))));
        }
        assert!(!is_bot(Some(person)));
        assert!(is_bot(Some(crawler)));
        let long = format!("{crawler} {}", "x".repeat(600));
        assert!(is_bot(Some(&long)) && is_bot(Some(&long)));
    }

    #[test]
    fn preview_fetchers_and_crawlers_are_bots() {
        for ua in [
            "WhatsApp/2.23.20.0",
            "WhatsApp/2.23.20.0 A",
            "WhatsApp/2.2407.3 i",
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "facebookexternalhit/1.1",
            "TelegramBot (like TwitterBot)",
            "Twitterbot/1.0",
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
            "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5",
            "curl/8.5.0",
        ] {
            assert!(is_bot(Some(ua)), "{ua} should be a bot");
        }
    }

    #[test]
    fn browsers_are_people() {
        for ua in [
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
            "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/124.0.0.0 Mobile Safari/537.36 Instagram 330.0.0.40.92 Android",
        ] {
            assert!(!is_bot(Some(ua)), "{ua} should be a person");
        }
        assert!(!is_bot(None));
        assert!(!is_bot(Some("")));
    }
}
