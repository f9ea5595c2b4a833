//! What every page's frame shows: who is signed in, in which organisation, and what they may do, so
//! that the page offers only what the user may do (the registry decides, whatever the page shows).

/// The frame around a page.
pub struct Layout {
    /// Empty when signed out.
    pub organisation: String,
    /// `?org=<id>` for a caller that names the organisation on each page; empty otherwise. Links and
    /// forms append it.
    pub org_query: String,
    pub subject: String,
    /// The stylesheet carrying the session's brand colour.
    pub brand_css: String,
    /// The embedding product's logo address; empty: none.
    pub logo: String,
    /// Whether the user may create, change, switch on and off and replay (the controls are left out
    /// otherwise).
    pub may_manage: bool,
    /// Whether the user may read and change the organisation's settings (org admins).
    pub may_configure: bool,
    pub csrf: String,
    /// The navigation entry of this page.
    pub section: &'static str,
}

impl Layout {
    pub fn anonymous() -> Self {
        Self {
            organisation: String::new(),
            org_query: String::new(),
            subject: String::new(),
            brand_css: Self::brand_css(None),
            logo: String::new(),
            may_manage: false,
            may_configure: false,
            csrf: String::new(),
            section: "",
        }
    }

    /// `path?query`, with this page's `org=` added when the caller names the organisation on each page.
    /// `query` is already encoded (ids and words).
    pub fn href(&self, path: &str, query: &str) -> String {
        let org = self.org_query.trim_start_matches('?');
        match (query.is_empty(), org.is_empty()) {
            (true, true) => path.to_owned(),
            (false, true) => format!("{path}?{query}"),
            (true, false) => format!("{path}?{org}"),
            (false, false) => format!("{path}?{query}&{org}"),
        }
    }

    /// The brand stylesheet's address, for a colour already checked to be `#rrggbb`.
    pub fn brand_css(brand: Option<&str>) -> String {
        match brand {
            Some(colour) => format!("/assets/brand.css?c={}", colour.trim_start_matches('#')),
            None => "/assets/brand.css".into(),
        }
    }
}
