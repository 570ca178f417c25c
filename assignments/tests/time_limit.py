"""テスト 1 つあたりの制限時間: 無限ループで止まったまま待たされないようにします。

制限時間を過ぎると、実行中のテストに TimeLimitExceeded を送ります。Windows でも macOS でも
Colab でも同じように動くよう、シグナルではなく「メインスレッドへの割り込み」を使います
（Ctrl+C を押したのと同じ仕組みです。本当に Ctrl+C を押したときは、いつもどおり止まります）。
"""

import _thread
import threading
import time

TIME_LIMIT_SECONDS = 10


class TimeLimitExceeded(Exception):
    """制限時間を過ぎても終わらなかったテストの失敗。"""


class time_limit:
    """`with time_limit(秒):` の中の処理が `秒` を過ぎたら TimeLimitExceeded で打ち切ります。"""

    def __init__(self, seconds=TIME_LIMIT_SECONDS):
        self.seconds = seconds
        self._lock = threading.Lock()
        self._running = False
        self._expired = False

    def __enter__(self):
        self._running = True
        self._timer = threading.Timer(self.seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def _expire(self):
        with self._lock:
            if self._running:
                self._expired = True
                _thread.interrupt_main()

    def __exit__(self, kind, error, traceback):
        with self._lock:
            self._running = False
            self._timer.cancel()
        if not self._expired:
            return False
        if kind is not KeyboardInterrupt:
            _absorb_the_interrupt_on_its_way()
        message = f"{self.seconds} 秒たっても終わりませんでした（無限ループの可能性）。ループが終わる条件を確かめてください。"
        raise TimeLimitExceeded(message).with_traceback(traceback)


def _absorb_the_interrupt_on_its_way():
    """処理が制限時間ちょうどに終わったとき、送ったばかりの割り込みを受け止めます。"""
    try:
        for _ in range(100):
            time.sleep(0.01)
    except KeyboardInterrupt:
        pass
