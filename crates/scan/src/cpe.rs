//! CPE 2.3 names (NISTIR 7695), as far as matching needs them: the vendor
//! and product they name, and the version.

/// "vendor:product" of "cpe:2.3:a:VENDOR:PRODUCT:VERSION:…" (or of the
/// URI form "cpe:/a:VENDOR:PRODUCT:VERSION"), lowercased.
pub fn product(cpe: &str) -> Option<String> {
    let fields = fields(cpe)?;
    let (vendor, product) = (fields.first()?, fields.get(1)?);
    (!vendor.is_empty() && !product.is_empty() && *product != "*").then(|| format!("{vendor}:{product}").to_lowercase())
}

/// The version a CPE names, unless it is `*` or `-`.
pub fn version(cpe: &str) -> Option<String> {
    fields(cpe)?.get(2).filter(|v| !v.is_empty() && **v != "*" && **v != "-").map(|v| v.replace("\\.", "."))
}

/// The fields after the part: vendor, product, version, …
fn fields(cpe: &str) -> Option<Vec<&str>> {
    let rest = cpe.strip_prefix("cpe:2.3:").or_else(|| cpe.strip_prefix("cpe:/"))?;
    let mut it = rest.split(':');
    it.next()?;
    Some(it.collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_vendor_product_and_version() {
        let c = "cpe:2.3:a:zlib:zlib:1.2.13:*:*:*:*:*:*:*";
        assert_eq!(super::product(c).as_deref(), Some("zlib:zlib"));
        assert_eq!(super::version(c).as_deref(), Some("1.2.13"));
        assert_eq!(super::version("cpe:2.3:a:zlib:zlib:*:*:*:*:*:*:*:*"), None);
        assert_eq!(super::product("cpe:/a:sqlite:sqlite:3.40.1").as_deref(), Some("sqlite:sqlite"));
    }
}
