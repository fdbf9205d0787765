"""The textbook script the converter's tests read."""

from __future__ import annotations

import pytest

# A reader's chapter 7-9 script, with the habits real copies have: comments (Korean ones too),
# a dangerous call next to the models, configs bound to names, options set after construction.
BOOK = '''\
# -*- coding: utf-8 -*-
import os
from ch9.cnn_ext_model import CnnExtModel

os.system("touch MARKER")  # 변환기는 이 줄을 실행하면 안 된다

fd = FlowersDataset([96, 96], [96, 96, 3])
od = Office31Dataset([96, 96], [96, 96, 3])

# 7장: 완전연결 계층만으로 구성
fm2 = CnnBasicModel('flowers_model_2', fd,
                    [['full', {'width':30}],
                     ['full', {'width':10}]])
fm2.use_adam = False
fm2.exec_all(epoch_count = 10, report = 2)

# 8장: 드롭아웃
cnn2 = [['conv', {'ksize':3, 'chn':6}], ['max', {'stride':2}], ['dropout', {'keep_prob':0.6}],
        ['conv', {'ksize':3, 'chn':12}], ['max', {'stride':2}], ['dropout', {'keep_prob':0.6}],
        ['conv', {'ksize':3, 'chn':24}], ['avg', {'stride':3}], ['dropout', {'keep_prob':0.6}]]
fcnn2 = CnnRegModel('flowers_cnn_2', fd, cnn2)
fcnn2.exec_all(epoch_count=10, report=2, show_cnt=0)
ocnn1 = CnnRegModel('office31_cnn_1', od,
                    [['conv', {'ksize':3, 'chn':6}], ['max', {'stride':2}],
                     ['conv', {'ksize':3, 'chn':12}], ['max', {'stride':2}],
                     ['conv', {'ksize':3, 'chn':24}], ['avg', {'stride':3}]], l2_decay=0.1)

# 9장: 꽃 인셉션 모델
CnnExtModel.set_macro('flower_preproc',
                      ['serial',
                       ['conv', {'ksize':3, 'stride':2, 'chn':6, 'actions':'#act'}]])
CnnExtModel.set_macro('flower_inception1',
                      ['parallel',
                       ['conv', {'ksize':1, 'chn':4, 'actions':'#act'}],
                       ['conv', {'ksize':3, 'chn':6, 'actions':'#act'}],
                       ['serial',
                        ['conv', {'ksize':3, 'chn':6, 'actions':'#act'}],
                        ['conv', {'ksize':3, 'chn':6, 'actions':'#act'}]],
                       ['serial',
                        ['avg', {'ksize':3, 'stride':1}],
                        ['conv', {'ksize':1, 'chn':4, 'actions':'#act'}]]])
CnnExtModel.set_macro('flower_resize',
                      ['parallel',
                       ['conv', {'ksize':3, 'stride':2, 'chn':12, 'actions':'#act'}],
                       ['serial',
                        ['conv', {'ksize':3, 'chn':12, 'actions':'#act'}],
                        ['conv', {'ksize':3, 'stride':2, 'chn':12, 'actions':'#act'}]],
                       ['avg', {'ksize':3, 'stride':2}]])
CnnExtModel.set_macro('flower_inception2',
                      ['parallel',
                       ['conv', {'ksize':1, 'chn':8, 'actions':'#act'}],
                       ['serial',
                        ['conv', {'ksize':[3,3], 'chn':8, 'actions':'#act'}],
                        ['parallel',
                         ['conv', {'ksize':[1,3], 'chn':8, 'actions':'#act'}],
                         ['conv', {'ksize':[3,1], 'chn':8, 'actions':'#act'}]]],
                       ['serial',
                        ['conv', {'ksize':[1,1], 'chn':8, 'actions':'#act'}],
                        ['conv', {'ksize':[3,3], 'chn':8, 'actions':'#act'}],
                        ['parallel',
                         ['conv', {'ksize':[1,3], 'chn':8, 'actions':'#act'}],
                         ['conv', {'ksize':[3,1], 'chn':8, 'actions':'#act'}]]],
                       ['serial',
                        ['avg', {'ksize':3, 'stride':1}],
                        ['conv', {'ksize':1, 'chn':8, 'actions':'#act'}]]])
CnnExtModel.set_macro('flower_postproc',
                      ['serial', ['avg', {'stride':6}], ['dropout', {'keep_prob':0.7}]])
CnnExtModel.set_macro('inception_flower',
                      ['serial',
                       ['custom', {'name':'flower_preproc', 'args':{'#act':'#act'}}],
                       ['custom', {'name':'flower_inception1', 'args':{'#act':'#act'}}],
                       ['custom', {'name':'flower_resize', 'args':{'#act':'#act'}}],
                       ['custom', {'name':'flower_inception1', 'args':{'#act':'#act'}}],
                       ['custom', {'name':'flower_resize', 'args':{'#act':'#act'}}],
                       ['custom', {'name':'flower_inception2', 'args':{'#act':'#act'}}],
                       ['custom', {'name':'flower_resize', 'args':{'#act':'#act'}}],
                       ['custom', {'name':'flower_inception2', 'args':{'#act':'#act'}}],
                       ['custom', {'name':'flower_postproc', 'args':{'#act':'#act'}}]])
CnnExtModel.set_macro('never_used', ['serial', ['max', {'stride':2}]])

conf_flower_LA = ['custom', {'name':'inception_flower', 'args':{'#act':'LA'}}]
model_flower_LA = CnnExtModel('model_flower_LA', fd, conf_flower_LA, dump_structure=True)
model_flower_LA.exec_all(report=2, learning_rate=1e-4)
'''


@pytest.fixture


def book(tmp_path):
    marker = tmp_path / "executed"
    path = tmp_path / "book.py"
    path.write_text(BOOK.replace("MARKER", str(marker)), encoding="utf-8")
    return path, marker
