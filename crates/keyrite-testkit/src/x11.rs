//! Asks the app's window to close as a window manager does (the close button, Alt+F4): a
//! `WM_DELETE_WINDOW` client message. Xvfb runs no window manager, so the test sends it.
#![expect(
    unsafe_code,
    reason = "test fixture: Xlib calls to send the window the close request a window manager sends"
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
