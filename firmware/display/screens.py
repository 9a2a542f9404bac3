# The gate terminal's screens, for any Canvas panel. Two layouts: "small"
# (SSD1306 128x64: one inverted title bar + three 15 px text rows) and
# "large" (ST7789 240x240: coloured title band, big verdict text). Vietnamese
# comes first, English under or after it (lang "vi+en"); "vi" or "en" alone
# drop the other language. Every method draws the whole screen and show()s it.
from micropython import const
from display import canvas as C
from display import messages as M
from verify import reasons

_ROW0 = const(17)   # small layout: first body row and row pitch
_PITCH = const(15)
_SEP = " / "


def _str(v):
    # texts come from the fleet or the app: show anything, never raise
    return v if isinstance(v, str) else ("" if v is None else str(v))


class Screens:
    def __init__(self, display, lang="vi+en"):
        if lang not in ("vi+en", "vi", "en"):
            raise ValueError("lang must be 'vi+en', 'vi' or 'en'")
        self.d = display
        self.vi = lang != "en"
        self.en = lang != "vi"
        self.large = display.width >= 200
        if self.large:
            self.f_small = display.font("sans10")
            self.f_body = display.font("sans16")
            self.f_big = display.font("bold24")
        else:  # 128x64: one font (4 lines of 15 px)
            self.f_small = self.f_body = self.f_big = display.font("sans10")

    # -- text helpers --
    def _both(self, pair, sep=_SEP):
        """'vi / en', or the one enabled language."""
        if self.vi and self.en:
            return pair[0] + sep + pair[1]
        return pair[0] if self.vi else pair[1]

    def _langs(self, pair):
        """The enabled texts of a (vi, en) pair, Vietnamese first."""
        out = []
        if self.vi:
            out.append(pair[0])
        if self.en:
            out.append(pair[1])
        return out

    def _rows(self, texts, row, last_row, font=None):
        # small layout: fill rows row..last_row with the texts, each text
        # wrapped, later texts keep at least one row
        d = self.d
        font = font or self.f_body
        for i, s in enumerate(texts):
            left = len(texts) - i - 1
            n = last_row - row + 1 - left
            if n < 1:
                return row
            need = len(d.wrap(s, font, d.width))
            n = min(n, need)
            d.paragraph(s, _ROW0 + row * _PITCH, font, n, pitch=_PITCH)
            row += n
        return row

    def _paras(self, texts, y, font, max_lines, y_end):
        # large layout: texts as paragraphs from y, each kept under max_lines
        d = self.d
        for s in texts:
            room = (y_end - y) // font.height
            y = d.paragraph(s, y, font, min(max_lines, room))
        return y

    def _band(self, y0, y1, colour):
        # large layout: a filled title band in colour with white text cut out
        d = self.d
        d.zone(y0, y1, colour, C.WHITE)
        d.fill_rect(0, y0, d.width, y1 - y0, 1)

    def _title(self, icon, pair, colour, body_colour=C.WHITE):
        """Title of a screen; returns the first free y (large) or row (small)."""
        d = self.d
        d.clear()
        if not self.large:
            # "VI / EN" in the bar if it fits, else VI there and EN on row 0
            x = 17 if icon else 2
            width = d.width - x - 2
            text = self._both(pair)
            row = 0
            if self.vi and self.en and d.measure(text, self.f_small) > width:
                text = pair[0]
                row = 1
            d.fill_rect(0, 0, d.width, 15, 1)
            d.text_aligned(text, 0, self.f_small, C.CENTER, 0, x, width)
            if icon:
                d.icon(icon, 0, 0, 1, 0)
            if row:
                d.text_aligned(pair[1], _ROW0, self.f_small)
            return row
        d.zone(0, d.height, body_colour, C.BLACK)
        band = 66 if (self.vi and self.en) else 44
        self._band(0, band, colour)
        y = 4
        big = True
        for s in self._langs(pair):  # first language big, the other under it
            font = self.f_big if big else self.f_body
            d.text_aligned(s, y, font, C.CENTER, 0, 4, d.width - 8)
            y += font.height
            big = False
        if icon:
            d.icon(icon, (d.width - 48) >> 1, band + 6, 3)
            return band + 60
        return band + 6

    def _status(self, icon, title, hint, colour):
        # title + hint sentence(s): out of sync, suspended, full
        d = self.d
        y = self._title(icon, title, colour, colour)
        if self.large:
            self._paras(self._langs(hint), y, self.f_body, 3, d.height)
        else:
            self._rows(self._langs(hint), y, 2)
        d.show()

    # -- screens --
    def idle(self, site_name, clock_text, online, config_version, revocation_version,
             queue_depth):
        d = self.d
        d.clear()
        site_name = _str(site_name)
        clock_text = _str(clock_text)
        status = M.ONLINE if online else M.OFFLINE
        net_icon = "online" if online else "offline"
        if not self.large:
            d.bar(0, 15, site_name, self.f_small)
            self._rows(self._langs(M.SCAN_HINT), 0, 1)
            info = "%s  C%s R%s Q%s" % (clock_text, config_version, revocation_version,
                                        queue_depth)
            d.text_aligned(info, _ROW0 + 2 * _PITCH, self.f_small, C.LEFT, 1, 0, d.width - 18)
            d.icon(net_icon, d.width - 16, 48)
            d.show()
            return
        d.zone(0, d.height, C.WHITE, C.BLACK)
        self._band(0, 30, C.BLUE)
        d.text_aligned(site_name, (30 - self.f_body.height) >> 1, self.f_body, C.CENTER, 0,
                       4, d.width - 8)
        d.text_aligned(clock_text, 38, self.f_big)
        y = 38 + self.f_big.height + 4
        label = self._both(status)
        w = 20 + d.measure(label, self.f_body)
        x = (d.width - w) >> 1
        d.zone(y, y + 21, C.GREEN if online else C.AMBER, C.BLACK)
        d.icon(net_icon, x, y + 2)
        d.text(label, x + 20, y, self.f_body)
        y += 30
        d.zone(y, y + 2 * self.f_body.height, C.WHITE, C.BLACK)
        self._paras(self._langs(M.SCAN_HINT), y, self.f_body, 2, 196)
        y = 240 - 3 * self.f_small.height - 2
        d.hline(0, y - 3, d.width)
        for pair, value in ((M.CONFIG, config_version), (M.REVOCATION, revocation_version),
                            (M.QUEUE, queue_depth)):
            d.text_aligned("%s: %s" % (self._both(pair), value), y, self.f_small, C.LEFT, 1, 4)
            y += self.f_small.height
        d.show()

    def accept(self, role, initials, birth_year):
        d = self.d
        y = self._title("check", M.ACCEPT, C.GREEN, C.GREEN)
        initials = _str(initials)
        who = "%s · %s" % (initials, _str(birth_year))
        if not self.large:
            d.text_aligned(who, _ROW0 + y * _PITCH, self.f_small)
            self._rows([self._both(M.role(role))], y + 1, 2)
            d.show()
            return
        y -= 8
        d.text_aligned(initials, y, self.f_big)
        y += self.f_big.height
        d.text_aligned("%s %s" % (self._both(M.BORN), _str(birth_year)), y, self.f_body)
        y += self.f_body.height + 4
        d.zone(y, d.height, C.WHITE, C.BLACK)
        self._paras(self._langs(M.role(role)), y, self.f_body, 2, d.height)
        d.show()

    def deny(self, reason_code):
        d = self.d
        y = self._title("cross", M.DENY, C.RED)
        texts = self._langs(M.reason(reason_code))
        if not self.large:
            self._rows(texts, y, 2)
            d.show()
            return
        y = self._paras(texts, y - 4, self.f_body, 3, d.height - self.f_small.height)
        code = "%s %d %s" % (self._both(("Mã", "Code"), "/"), reason_code,
                             reasons.name(reason_code)) if isinstance(reason_code, int) \
            else str(reason_code)
        d.text_aligned(code, d.height - self.f_small.height, self.f_small)
        d.show()

    def out_of_sync(self):
        self._status("clock", M.OUT_OF_SYNC, M.OUT_OF_SYNC_HINT, C.AMBER)

    def suspended(self):
        self._status("pause", M.SUSPENDED, M.SUSPENDED_HINT, C.RED)

    def full(self):
        self._status("people", M.FULL, M.FULL_HINT, C.AMBER)

    def setup(self, device_id):
        d = self.d
        device_id = _str(device_id)
        y = self._title("gear", M.SETUP, C.BLUE)
        if not self.large:
            rows = [self._both(M.DEVICE) + ":", device_id] + self._langs(M.SETUP_HINT)
            for i, s in enumerate(rows[:3 - y]):
                d.text_aligned(s, _ROW0 + (y + i) * _PITCH, self.f_small)
            d.show()
            return
        y -= 8
        d.text_aligned(self._both(M.DEVICE), y, self.f_body)
        y += self.f_body.height
        d.zone(y, y + self.f_big.height, C.AMBER, C.BLACK)
        d.text_aligned(device_id, y, self.f_big)
        y += self.f_big.height + 4
        self._paras(self._langs(M.SETUP_HINT), y, self.f_body, 2, d.height)
        d.show()

    def error(self, text):
        d = self.d
        text = _str(text)
        y = self._title("warn", M.ERROR, C.RED)
        if not self.large:
            self._rows([text], y, 2)
        else:
            self._paras([text], y - 4, self.f_body, 6, d.height)
        d.show()

    def message(self, text, seconds):
        """Operator message; returns how long to keep it up (ms, 1 s..10 min)."""
        d = self.d
        text = _str(text)
        y = self._title("msg", M.MESSAGE, C.BLUE)
        if not self.large:
            self._rows([text], y, 2)
        else:
            self._paras([text], y - 4, self.f_body, 6, d.height)
        d.show()
        try:
            seconds = int(seconds)
        except (TypeError, ValueError):
            seconds = 10
        return max(1, min(600, seconds)) * 1000
