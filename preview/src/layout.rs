//! Placing widgets on CloudWatch's 24-column grid: each widget's `x`, `y`, `width` and
//! `height` in grid units, widgets without a position flowing left to right, top to bottom
//! into the first free place (as the console does), and the pixel rectangle of each.

use aistudio_core::limits::DASHBOARD_GRID_COLUMNS;

/// Width and height of a widget that leaves them out (CloudWatch "Dashboard body structure
/// and syntax": default 6 for both).
pub const DEFAULT_SIZE: i64 = 6;
/// Pixels per grid column: 24 columns make a 1,200-pixel page, about the console's width.
pub const COLUMN_PX: u32 = 50;
/// Pixels per grid row (a 6-high graph is 288 pixels).
pub const ROW_PX: u32 = 48;
/// Tallest widget the preview draws, in rows (the API's own maximum is 1,000; past this a
/// widget would be a picture nobody scrolls).
pub const MAX_ROWS: i64 = 60;

/// A widget's place in grid units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    /// Column, 0–23.
    pub x: i64,
    /// Row.
    pub y: i64,
    /// Columns, 1–24.
    pub width: i64,
    /// Rows.
    pub height: i64,
}

/// A rectangle in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left.
    pub left: u32,
    /// Top.
    pub top: u32,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

impl Cell {
    /// The pixel rectangle.
    pub fn rect(&self) -> Rect {
        let px = |v: i64, unit: u32| u32::try_from(v).unwrap_or(0).saturating_mul(unit);
        Rect {
            left: px(self.x, COLUMN_PX),
            top: px(self.y, ROW_PX),
            width: px(self.width, COLUMN_PX),
            height: px(self.height, ROW_PX),
        }
    }

    fn overlaps(&self, other: &Cell) -> bool {
        self.x < other.x + other.width
            && other.x < self.x + self.width
            && self.y < other.y + other.height
            && other.y < self.y + self.height
    }
}

/// A widget's requested place: any of the four may be missing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requested {
    /// `x`.
    pub x: Option<i64>,
    /// `y`.
    pub y: Option<i64>,
    /// `width`.
    pub width: Option<i64>,
    /// `height`.
    pub height: Option<i64>,
}

/// Places every widget: sizes clamped to the grid, explicit positions kept, the others put
/// in the first free place scanning rows top to bottom and columns left to right.
pub fn place(requested: &[Requested]) -> Vec<Cell> {
    let columns = DASHBOARD_GRID_COLUMNS;
    let size = |r: &Requested| {
        (
            r.width.unwrap_or(DEFAULT_SIZE).clamp(1, columns),
            r.height.unwrap_or(DEFAULT_SIZE).clamp(1, MAX_ROWS),
        )
    };
    let mut placed: Vec<Option<Cell>> = requested
        .iter()
        .map(|r| match (r.x, r.y) {
            (Some(x), Some(y)) => {
                let (width, height) = size(r);
                let x = x.clamp(0, columns - width);
                Some(Cell {
                    x,
                    y: y.max(0),
                    width,
                    height,
                })
            }
            _ => None,
        })
        .collect();
    for (i, r) in requested.iter().enumerate() {
        if placed[i].is_some() {
            continue;
        }
        let (width, height) = size(r);
        let taken: Vec<Cell> = placed.iter().flatten().copied().collect();
        let free = (0..)
            .flat_map(|y| (0..=columns - width).map(move |x| (x, y)))
            .map(|(x, y)| Cell {
                x,
                y,
                width,
                height,
            })
            .find(|c| !taken.iter().any(|t| t.overlaps(c)));
        placed[i] = free;
    }
    placed
        .into_iter()
        .map(|c| {
            c.unwrap_or(Cell {
                x: 0,
                y: 0,
                width: DEFAULT_SIZE,
                height: DEFAULT_SIZE,
            })
        })
        .collect()
}

/// The page size in pixels holding every cell.
pub fn page_size(cells: &[Cell]) -> (u32, u32) {
    let rows = cells.iter().map(|c| c.y + c.height).max().unwrap_or(1);
    let height = Cell {
        x: 0,
        y: 0,
        width: DASHBOARD_GRID_COLUMNS,
        height: rows,
    }
    .rect();
    (height.width, height.height)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(x: i64, y: i64, w: i64, h: i64) -> Requested {
        Requested {
            x: Some(x),
            y: Some(y),
            width: Some(w),
            height: Some(h),
        }
    }

    #[test]
    fn explicit_positions_map_to_pixels() {
        let cells = place(&[at(0, 0, 24, 2), at(12, 2, 12, 6)]);
        assert_eq!(
            cells[1].rect(),
            Rect {
                left: 12 * COLUMN_PX,
                top: 2 * ROW_PX,
                width: 12 * COLUMN_PX,
                height: 6 * ROW_PX
            }
        );
        assert_eq!(page_size(&cells), (24 * COLUMN_PX, 8 * ROW_PX));
    }

    #[test]
    fn widgets_without_a_position_flow_into_free_places() {
        let cells = place(&[
            at(0, 0, 12, 6),
            Requested::default(),
            Requested {
                width: Some(12),
                ..Requested::default()
            },
            Requested::default(),
        ]);
        assert_eq!((cells[1].x, cells[1].y, cells[1].width), (12, 0, 6));
        // 12 wide: no room beside the others on row 0, so the first free row below.
        assert_eq!((cells[2].x, cells[2].y), (0, 6));
        assert_eq!((cells[3].x, cells[3].y), (18, 0));
    }

    #[test]
    fn sizes_are_clamped_to_the_grid() {
        let cells = place(&[at(20, -3, 40, 0)]);
        assert_eq!(
            cells[0],
            Cell {
                x: 0,
                y: 0,
                width: 24,
                height: 1
            }
        );
    }
}
