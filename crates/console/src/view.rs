//! What every page's frame shows: who is signed in, in which organisation, and what they may do, so
//! that the page shows only what they may do (the registry decides, whatever the page shows).

use hookline_runtime::auth::Caller;

/// The frame around a page.
pub struct Layout {
    /// Empty when signed out.
    pub organisation: String,
    pub subject: String,
    /// The stylesheet carrying the session's brand colour.
    pub brand_css: String,
    pub csrf: String,
    /// The navigation entry of this page.
    pub section: &'static str,
}

impl Layout {
    pub fn anonymous() -> Self {
        Self {
            organisation: String::new(),
            subject: String::new(),
            brand_css: "/assets/brand.css".into(),
            csrf: String::new(),
            section: "",
        }
    }

    pub fn signed_in(
        caller: &Caller,
        organisation: &str,
        brand: Option<&str>,
        csrf: &str,
        section: &'static str,
    ) -> Self {
        Self {
            organisation: organisation.to_owned(),
            subject: caller.subject.clone(),
            brand_css: match brand {
                Some(colour) => format!("/assets/brand.css?c={}", colour.trim_start_matches('#')),
                None => "/assets/brand.css".into(),
            },
            csrf: csrf.to_owned(),
            section,
        }
    }
}
