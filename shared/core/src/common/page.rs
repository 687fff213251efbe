//! List pagination: `?limit=` and an opaque cursor.

use serde::Serialize;

use crate::common::error::DomainError;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// A validated page request. The cursor is whatever the store handed out as `next`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PageRequest {
    pub limit: u32,
    pub cursor: Option<String>,
}

impl PageRequest {
    pub fn new(limit: Option<u32>, cursor: Option<String>) -> Result<Self, DomainError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(DomainError::invalid(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let cursor = cursor.filter(|c| !c.is_empty());
        Ok(Self { limit, cursor })
    }

    pub fn first(limit: u32) -> Self {
        Self {
            limit,
            cursor: None,
        }
    }
}

/// One page of a list. Pass `next_cursor` as `?cursor=` for the next page; `null` on the last.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    #[cfg_attr(feature = "openapi", schema(required))]
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

/// Pages through `items` (already in key order) after the key `cursor`, by `key`.
pub fn paginate<T: Clone>(
    items: impl IntoIterator<Item = T>,
    request: &PageRequest,
    key: impl Fn(&T) -> String,
) -> Page<T> {
    let mut iter = items
        .into_iter()
        .filter(|item| {
            request
                .cursor
                .as_ref()
                .is_none_or(|after| key(item) > *after)
        })
        .peekable();
    let mut page = Vec::new();
    while page.len() < request.limit as usize {
        match iter.next() {
            Some(item) => page.push(item),
            None => break,
        }
    }
    let next_cursor = match (iter.peek(), page.last()) {
        (Some(_), Some(last)) => Some(key(last)),
        _ => None,
    };
    Page {
        items: page,
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_is_bounded() {
        assert!(PageRequest::new(Some(0), None).is_err());
        assert!(PageRequest::new(Some(201), None).is_err());
        assert_eq!(PageRequest::new(None, None).unwrap().limit, 50);
    }

    #[test]
    fn pages_follow_each_other_without_gaps() {
        let items: Vec<u32> = (1..=5).collect();
        let key = |n: &u32| format!("{n:04}");
        let first = paginate(items.clone(), &PageRequest::first(2), key);
        assert_eq!(first.items, vec![1, 2]);
        let second = paginate(
            items.clone(),
            &PageRequest {
                limit: 2,
                cursor: first.next_cursor.clone(),
            },
            key,
        );
        assert_eq!(second.items, vec![3, 4]);
        let third = paginate(
            items,
            &PageRequest {
                limit: 2,
                cursor: second.next_cursor,
            },
            key,
        );
        assert_eq!(third.items, vec![5]);
        assert_eq!(third.next_cursor, None);
    }
}
