//! The app's window seen from the X server: asks it to close as a window manager does (the
//! close button, Alt+F4: a `WM_DELETE_WINDOW` client message; Xvfb runs no window manager, so
//! the test sends it), and watches for its first contentful paint (the startup bench).
#![expect(
    unsafe_code,
    reason = "test fixture: Xlib calls to send the window the close request a window manager \
              sends, and to read its pixels"
)]

use x11_dl::xlib;

/// Windows under `w` (itself included) whose name is `title`.
unsafe fn named(
    x: &xlib::Xlib,
    d: *mut xlib::Display,
    w: xlib::Window,
    title: &str,
    out: &mut Vec<xlib::Window>,
) {
    let mut name: *mut std::os::raw::c_char = std::ptr::null_mut();
    if (x.XFetchName)(d, w, &mut name) != 0 && !name.is_null() {
        if std::ffi::CStr::from_ptr(name).to_string_lossy() == title {
            out.push(w);
        }
        (x.XFree)(name.cast());
    }
    let (mut root, mut parent) = (0, 0);
    let mut children: *mut xlib::Window = std::ptr::null_mut();
    let mut n = 0u32;
    if (x.XQueryTree)(d, w, &mut root, &mut parent, &mut children, &mut n) != 0
        && !children.is_null()
    {
        for c in std::slice::from_raw_parts(children, n as usize).to_vec() {
            named(x, d, c, title, out);
        }
        (x.XFree)(children.cast());
    }
}

/// Sends `WM_DELETE_WINDOW` to every window named `title` on `$DISPLAY`; returns how many.
pub fn request_close(title: &str) -> usize {
    let x = xlib::Xlib::open().expect("libX11");
    // SAFETY: plain Xlib calls on a display opened here and closed before returning; every
    // pointer Xlib returns is checked for null and freed with XFree.
    unsafe {
        let d = (x.XOpenDisplay)(std::ptr::null());
        assert!(!d.is_null(), "cannot open the X display ($DISPLAY)");
        let mut wins = Vec::new();
        named(&x, d, (x.XDefaultRootWindow)(d), title, &mut wins);
        let protocols = (x.XInternAtom)(d, c"WM_PROTOCOLS".as_ptr(), 0);
        let delete = (x.XInternAtom)(d, c"WM_DELETE_WINDOW".as_ptr(), 0);
        for &w in &wins {
            let mut ev: xlib::XEvent = std::mem::zeroed();
            ev.client_message = xlib::XClientMessageEvent {
                type_: xlib::ClientMessage,
                serial: 0,
                send_event: 1,
                display: d,
                window: w,
                message_type: protocols,
                format: 32,
                data: xlib::ClientMessageData::from([
                    delete as std::os::raw::c_long,
                    xlib::CurrentTime as std::os::raw::c_long,
                    0,
                    0,
                    0,
                ]),
            };
            (x.XSendEvent)(d, w, 0, xlib::NoEventMask, &mut ev);
        }
        (x.XFlush)(d);
        (x.XCloseDisplay)(d);
        wins.len()
    }
}

/// When a window named `title` first appeared and first showed content, as read from the X
/// server by [`watch_first_paint`].
#[derive(Debug, Clone, Copy)]
pub struct FirstPaint {
    /// The window exists and is viewable.
    pub mapped: std::time::SystemTime,
    /// Its pixels first held more than the asked number of distinct colours, if before the
    /// deadline.
    pub painted: Option<std::time::SystemTime>,
}

/// Ignores X errors: a window may vanish between the listing and the read.
unsafe extern "C" fn ignore_error(_: *mut xlib::Display, _: *mut xlib::XErrorEvent) -> i32 {
    0
}

/// Distinct pixel values in the image of viewable window `w` (its attributes `attrs`, just
/// read by the caller), counted up to `more_than + 1`.
unsafe fn colours_exceed(
    x: &xlib::Xlib,
    d: *mut xlib::Display,
    w: xlib::Window,
    attrs: &xlib::XWindowAttributes,
    more_than: usize,
) -> bool {
    let (width, height) = (attrs.width.max(0) as u32, attrs.height.max(0) as u32);
    let image = (x.XGetImage)(d, w, 0, 0, width, height, !0, xlib::ZPixmap);
    if image.is_null() {
        return false;
    }
    let get_pixel = (*image).funcs.get_pixel;
    let mut seen = std::collections::HashSet::new();
    let mut exceeded = false;
    // Every 4th pixel of every 4th row: text's anti-aliased shades span several pixels, and
    // counting every pixel of a 4 MB image each time would compete with the app for the CPU.
    'rows: for row in (0..height as i32).step_by(4) {
        for col in (0..width as i32).step_by(4) {
            if let Some(f) = get_pixel {
                seen.insert(f(image, col, row));
            }
            if seen.len() > more_than {
                exceeded = true;
                break 'rows;
            }
        }
    }
    if let Some(destroy) = (*image).funcs.destroy_image {
        destroy(image);
    }
    exceeded
}

/// Polls `$DISPLAY` every `interval` until a window named `title` is viewable and then until
/// its image holds more than `colours` distinct colours (an empty window is one or two flat
/// colours; rendered text brings anti-aliased shades), or until `deadline`. `None` when the
/// window never appeared.
pub fn watch_first_paint(
    title: &str,
    colours: usize,
    interval: std::time::Duration,
    deadline: std::time::Instant,
) -> Option<FirstPaint> {
    let x = xlib::Xlib::open().expect("libX11");
    // SAFETY: plain Xlib calls on a display opened here and closed before returning; every
    // pointer Xlib returns is checked for null and freed by its own free function.
    unsafe {
        let d = (x.XOpenDisplay)(std::ptr::null());
        assert!(!d.is_null(), "cannot open the X display ($DISPLAY)");
        (x.XSetErrorHandler)(Some(ignore_error));
        let root = (x.XDefaultRootWindow)(d);
        let mut result = None;
        let mut window = None;
        while std::time::Instant::now() < deadline {
            if window.is_none() {
                let mut wins = Vec::new();
                named(&x, d, root, title, &mut wins);
                window = wins.first().copied();
            }
            if let Some(w) = window {
                let mut attrs: xlib::XWindowAttributes = std::mem::zeroed();
                if (x.XGetWindowAttributes)(d, w, &mut attrs) != 0
                    && attrs.map_state == xlib::IsViewable
                {
                    let seen = result.get_or_insert(FirstPaint {
                        mapped: std::time::SystemTime::now(),
                        painted: None,
                    });
                    if colours_exceed(&x, d, w, &attrs, colours) {
                        seen.painted = Some(std::time::SystemTime::now());
                        break;
                    }
                }
            }
            std::thread::sleep(interval);
        }
        (x.XCloseDisplay)(d);
        result
    }
}
